"""`router exits`: an early-exit model from a teacher's ONNX folder - exit heads on the teacher's own layers.

A cascade of separate models (static -> student -> teacher) pays for every level a text passes through: a text
that reaches the teacher has also paid for the student. An early-exit model cuts the teacher's served ONNX file
(e.g. its INT8 file) into segments at a few layer boundaries and puts a linear exit head after each cut; a text
that no head is sure of continues from the hidden states where it stopped, so escalation recomputes nothing and
the route at the end is the teacher file's own (see :mod:`llm_router.runtime.early_exit`). The heads need no
training of the encoder: logistic regressions on pooled hidden states, fitted in seconds.

The recipe, one function per step:

1. :func:`layer_outputs` finds each encoder layer's output tensor in the ONNX graph (BERT-shaped encoders: the
   output LayerNorm of ``encoder/layer.N``); :func:`default_exits` places candidate cuts at 1/6, 1/3, 1/2 and 2/3
   of the depth (layers 2, 4, 6, 8 of 12).
2. :func:`split_segments` extracts the segments with ``onnx.utils.Extractor`` (a segment after the first takes the
   previous hidden states and the attention mask); the last segment's logits equal the whole file's.
3. :func:`head_texts`: the training texts and augmented copies of them (typos, spacing, word swaps, punctuation),
   routed one at a time through every segment: pooled hidden states at each cut, and the teacher file's final
   route as each head's target.
4. :func:`fit_head`: one logistic regression per cut, its C chosen by agreement with the reference on the
   validation texts and their augmented copies.
5. Thresholds: each segment's cost is timed at batch 1, and :func:`llm_router.eval.cascade.choose_thresholds`
   (``always_paid``: a skipped exit still runs its segment) picks the cheapest thresholds that reach the target
   agreement with the reference (the teacher's float ONNX export when the folder serves an INT8 copy) on the
   validation texts and copies, within ``max_cost_ms``; else the highest agreement within it.
6. The folder is written atomically with the chosen exits only (a skipped exit's cut is merged away), the heads,
   the tokenizer, ``split.json`` and ``exits.json`` (the choice, costs and shares).
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from llm_router.distill.config import ExitsConfig
from llm_router.errors import RouterError
from llm_router.eval.cascade import augmented_variants, choose_thresholds, probe_texts
from llm_router.eval.metrics import wilson_interval
from llm_router.persistence import read_router_info, write_router_json
from llm_router.quantize.core import CARRIED_FILES
from llm_router.runtime.early_exit import (
    EARLY_EXIT_KIND,
    FINAL_NAME,
    HEADS_FILE,
    EarlyExitPredictor,
    ExitHead,
    pooled_features,
    write_heads,
)
from llm_router.utils import atomic_output_dir, atomic_write_json
from llm_router.utils.files import check_replaceable

LAYER_OUTPUT = re.compile(r"/encoder/layer\.(\d+)/output/LayerNorm/")
HEAD_C_GRID = (0.1, 1.0, 10.0)


class NotCuttable(RouterError):
    """The ONNX file has no layer boundaries this module can find (the pipeline then skips its early exit)."""


# ------------------------------------------------------------------------------------------- the graph
def layer_outputs(model) -> dict[int, str]:
    """``{layer number (1-based): its output tensor}`` of an ONNX encoder graph (BERT-shaped: the output
    LayerNorm of ``encoder/layer.N``)."""
    found: dict[int, str] = {}
    for node in model.graph.node:
        match = LAYER_OUTPUT.search(node.name)
        if match and node.op_type == "LayerNormalization":
            found[int(match.group(1)) + 1] = node.output[0]
    return found


def default_exits(n_layers: int) -> list[int]:
    """Cuts at 1/6, 1/3, 1/2 and 2/3 of the depth (2, 4, 6, 8 of 12 layers; 1, 2, 3, 4 of 6)."""
    return sorted({min(max(1, round(n_layers * f)), n_layers - 1) for f in (1 / 6, 1 / 3, 1 / 2, 2 / 3)})


def split_segments(model, outputs: dict[int, str], cuts: list[int], out_dir: Path) -> list[str]:
    """Write ``segment_<i>.onnx`` for the cuts: segment 0 from the model's inputs to the hidden states after layer
    ``cuts[0]``, each next one from there to the next cut, the last one to the logits. Returns the file names."""
    import onnx
    from onnx.utils import Extractor

    _declare_hidden_states(model, [outputs[c] for c in cuts])
    extractor = Extractor(model)
    graph_inputs = [i.name for i in model.graph.input]
    names, start = [], None
    for i, cut in enumerate([*cuts, None]):
        inputs = graph_inputs if start is None else [outputs[start], "attention_mask"]
        try:
            segment = extractor.extract_model(inputs, [outputs[cut]] if cut else [model.graph.output[0].name])
        except (ValueError, KeyError) as exc:
            raise RouterError(
                f"cannot cut the graph after layer {start or 0}: {' '.join(str(exc).split())[:200]}"
            ) from None
        _shape_from_mask(segment)
        name = f"segment_{i}.onnx"
        onnx.save(segment, str(out_dir / name))
        names.append(name)
        start = cut
    return names


def _declare_hidden_states(model, names: list[str]) -> None:
    """Give the cut tensors a type where the graph has none (shape inference stops at contrib ops such as the
    blockwise INT8 file's MatMulNBits): ``float[batch, sequence, hidden]``."""
    from onnx import TensorProto, helper

    known = {v.name for v in model.graph.value_info}
    hidden = _hidden_size(model)
    for name in names:
        if name not in known:
            model.graph.value_info.append(
                helper.make_tensor_value_info(
                    name, TensorProto.FLOAT, ["batch_size", "sequence_length", hidden]
                )
            )


def _shape_from_mask(segment) -> None:
    """A segment after the first has no ``input_ids``; the graph took only its shape from it (the attention
    mask's extension), which the attention mask has too."""
    have = {i.name for i in segment.graph.input}
    for node in segment.graph.node:
        for j, name in enumerate(node.input):
            if name in ("input_ids", "token_type_ids") and name not in have:
                if node.op_type != "Shape":
                    raise RouterError(
                        f"segment needs {name} for {node.op_type} node {node.name}: cannot cut here"
                    )
                node.input[j] = "attention_mask"


# ------------------------------------------------------------------------------------------- the heads
def head_texts(data, copies: int, seed: int, max_texts: int | None = None) -> list[str]:
    """The training texts and up to ``copies`` augmented variants of each (never a validation or test text); with
    ``max_texts``, the variants are sampled (seeded) so that the total stays within it (the training texts stay)."""
    texts = list(data.train["text"])
    if copies <= 0:
        return texts
    exclude = list(data.val["text"]) + list(data.test["text"])
    variants = augmented_variants(data.train, copies, seed, exclude)
    room = len(variants) if max_texts is None else max(0, max_texts - len(texts))
    if room < len(variants):
        keep = np.random.default_rng(seed).choice(len(variants), size=room, replace=False)
        variants = [variants[i] for i in sorted(keep)]
    return texts + variants


def segment_features(predictor: EarlyExitPredictor, texts: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
    """Pooled hidden states at every cut (``[n, 2 * hidden]`` each) and the last segment's route probabilities,
    one text at a time as the server routes them."""
    from llm_router.utils.progress import Bar, make_progress

    n_cuts = len(predictor.sessions) - 1
    features = [[] for _ in range(n_cuts)]
    final = []
    with make_progress(transient=True) as progress:
        bar = Bar(progress, "routing texts through the segments", total=len(texts))
        for text in texts:
            encoded = predictor.tokenizer.encode([text])
            for i, out in enumerate(predictor.segment_outputs(encoded)):
                if i < n_cuts:
                    features[i].append(pooled_features(out, encoded["attention_mask"])[0])
            final.append(predictor.final_probs(out)[0])
            bar.advance()
    return [np.asarray(f, dtype=np.float32) for f in features], np.asarray(final, dtype=np.float32)


def fit_head(
    features: np.ndarray,
    targets: np.ndarray,
    val_features: np.ndarray,
    val_reference: np.ndarray,
    n_routes: int,
) -> tuple[ExitHead, float, float]:
    """A logistic regression from pooled hidden states to the teacher's route; C from :data:`HEAD_C_GRID` by
    agreement with ``val_reference`` on the validation features. Returns (head, C, that agreement)."""
    from sklearn.linear_model import LogisticRegression

    classes = np.unique(targets)
    best = None
    for c in HEAD_C_GRID if len(classes) > 1 else (None,):
        weight = np.zeros((n_routes, features.shape[1]), dtype=np.float32)
        bias = np.full(n_routes, -30.0, dtype=np.float32)  # a route no training text had: never chosen
        if c is None:  # every target the same route: a head that always says it
            bias[classes[0]] = 0.0
        else:
            model = LogisticRegression(C=c, max_iter=3000).fit(features, targets)
            if len(classes) == 2:  # sklearn keeps one row, for the second class: softmax([0, z]) = sigmoid(z)
                bias[classes[0]] = 0.0
                weight[classes[1]], bias[classes[1]] = model.coef_[0], model.intercept_[0]
            else:
                weight[classes], bias[classes] = model.coef_, model.intercept_
        head = ExitHead(weight, bias)
        agreement = float((head.probs_of(val_features).argmax(axis=1) == val_reference).mean())
        if best is None or agreement > best[2]:
            best = (head, c, agreement)
    return best


# ------------------------------------------------------------------------------------------- the recipe
def _source(config: ExitsConfig):
    import onnx

    folder, info = read_router_info(config.model)
    if info.kind != "onnx":
        raise RouterError(
            f"{folder}: an early-exit model cuts an ONNX folder (`router quantize`), not kind {info.kind!r}"
        )
    if not (folder / "split.json").exists():
        raise RouterError(f"{folder}: no split.json (the validation texts choose the thresholds)")
    try:
        model = onnx.load(str(folder / info.onnx_file))
    except Exception as exc:  # protobuf's DecodeError and friends: not an ONNX file
        raise RouterError(
            f"{folder / info.onnx_file}: not an ONNX model ({' '.join(str(exc).split())[:120]})"
        ) from None
    outputs = layer_outputs(model)
    if not outputs:
        raise NotCuttable(
            f"{folder / info.onnx_file}: no encoder layer outputs to cut at (BERT-shaped encoders, as exported or "
            "INT8; not a graph whose layers ONNX Runtime's optimizer fused, such as the float model.onnx of `router "
            "quantize`)"
        )
    n_layers = max(outputs)
    cuts = sorted(set(config.exits or default_exits(n_layers)))
    if cuts[-1] >= n_layers:
        raise RouterError(f"--exits must be below the model's {n_layers} layers (got {cuts})")
    return folder, info, model, outputs, cuts


def _reference(config: ExitsConfig, folder: Path, info) -> str:
    if config.reference:
        return config.reference
    if info.onnx_file != "model.onnx" and (folder / "model.onnx").exists():
        return str(folder / "model.onnx")  # the float export beside an INT8 file
    return str(folder / info.onnx_file)


def _write_folder(
    tmp: Path, folder: Path, info, model, outputs, cuts, heads, thresholds, quantization
) -> None:
    for name in CARRIED_FILES:  # the tokenizer, config.json and split.json of the source folder
        if (folder / name).exists():
            shutil.copyfile(folder / name, tmp / name)
    segments = split_segments(model, outputs, cuts, tmp)
    write_heads(tmp / HEADS_FILE, heads)
    write_router_json(
        tmp,
        {
            **info.to_record(),
            "kind": EARLY_EXIT_KIND,
            "onnx_file": None,
            "quantization": quantization,
            "segments": segments,
            "exits": [{"layer": c, "threshold": t} for c, t in zip(cuts, thresholds, strict=True)],
            "heads": HEADS_FILE,
            "teacher": str(folder),
            "created_by": "router exits",
        },
    )


def _segment_costs(predictor: EarlyExitPredictor, texts: list[str], calls: int) -> list[float]:
    """Mean batch-1 ms of each segment (plus its exit head) over ``calls`` texts spread over ``texts``."""
    picked = [texts[(i * len(texts)) // calls] for i in range(min(calls, len(texts)))]
    totals = np.zeros(len(predictor.sessions))
    for k, text in enumerate(picked[:3] + picked):  # the first three: warm-up, not counted
        encoded = predictor.tokenizer.encode([text])
        start = time.perf_counter()
        for i, out in enumerate(
            predictor.segment_outputs(encoded)
        ):  # (the next segment runs on the next step)
            if i < len(predictor.heads):
                predictor.heads[i].probs(out, encoded["attention_mask"])
            now = time.perf_counter()
            if k >= 3:
                totals[i] += now - start
            start = now
    return (1e3 * totals / len(picked)).tolist()


def build_early_exit(config: ExitsConfig) -> dict[str, Any]:
    """Run `router exits` (module docstring): write the early-exit folder and return its report."""
    from llm_router.persistence import load_folder_data
    from llm_router.runtime import Predictor

    started = time.perf_counter()
    check_replaceable(config.out, keep=[config.model, config.reference])
    folder, info, model, outputs, cuts = _source(config)
    data = load_folder_data(folder)
    if data.val.empty:
        raise RouterError(f"{folder}: the split has no validation texts to choose thresholds on")
    served = info.raw.get("onnx_file") == info.onnx_file  # router.json's quantization is its served file's
    quantization = (info.raw.get("quantization") if served else None) or "float"
    out = Path(config.out)
    with atomic_output_dir(out) as tmp:
        # every candidate cut, no heads fitted yet: zero heads that nobody calls before fit_head replaces them
        scratch = tmp / ".candidates"
        scratch.mkdir()
        hidden = _hidden_size(model)
        blank = [
            ExitHead(
                np.zeros((len(info.routes), 2 * hidden), np.float32), np.zeros(len(info.routes), np.float32)
            )
        ] * len(cuts)
        _write_folder(scratch, folder, info, model, outputs, cuts, blank, [None] * len(cuts), quantization)
        candidates = EarlyExitPredictor(scratch, read_router_info(scratch)[1], threads=config.threads)

        train_texts = head_texts(data, config.copies, config.seed, config.max_head_texts)
        val_texts = list(data.val["text"]) + probe_texts(data, config.probe_copies, config.seed)
        train_features, train_final = segment_features(candidates, train_texts)
        val_features, val_final = segment_features(candidates, val_texts)
        reference_path = _reference(config, folder, info)
        reference = Predictor.load(reference_path, threads=config.threads)
        columns = [reference.routes.index(r) for r in info.routes]
        val_reference = np.asarray(reference.predict(val_texts).route_probs)[:, columns].argmax(axis=1)
        del reference

        heads, head_report = [], []
        for i, cut in enumerate(cuts):
            head, c, alone = fit_head(
                train_features[i],
                train_final.argmax(axis=1),
                val_features[i],
                val_reference,
                len(info.routes),
            )
            heads.append(head)
            head_report.append({"layer": cut, "C": c, "val_agreement_alone": alone})
        candidates.heads = heads
        costs = _segment_costs(candidates, val_texts, config.latency_calls)
        del candidates

        exit_probs = [head.probs_of(f) for head, f in zip(heads, val_features, strict=True)]
        levels = [*exit_probs, val_final]
        choice = choose_thresholds(
            [p.max(axis=1) for p in levels],
            [p.argmax(axis=1) == val_reference for p in levels],
            costs,
            config.target_agreement,
            config.grid,
            config.max_cost_ms,
            always_paid=True,
        )
        kept = [i for i, t in enumerate(choice["thresholds"][:-1]) if t is not None]
        shutil.rmtree(scratch)
        _write_folder(
            tmp,
            folder,
            info,
            model,
            outputs,
            [cuts[i] for i in kept],
            [heads[i] for i in kept],
            [choice["thresholds"][i] for i in kept],
            quantization,
        )
        n_val = len(data.val)
        originals = _agreement_of(levels, choice["thresholds"], val_reference, n_val)
        report = {
            "model": str(folder),
            "reference": reference_path,
            "candidate_exits": cuts,
            "exits": [cuts[i] for i in kept],
            "thresholds": choice["thresholds"],
            "target_agreement": config.target_agreement,
            "agreement": originals,
            "agreement_ci95": list(wilson_interval(round(originals * n_val), n_val)),
            "agreement_with_copies": choice["agreement"],
            "agreement_with_copies_ci95": list(
                wilson_interval(round(choice["agreement"] * len(val_texts)), len(val_texts))
            ),
            "reached_target": choice["reached_target"],
            "shares": dict(zip([*(f"exit-{c}" for c in cuts), FINAL_NAME], choice["shares"], strict=True)),
            "segment_ms": dict(zip([*(f"to-layer-{c}" for c in cuts), FINAL_NAME], costs, strict=True)),
            "expected_ms": choice["expected_cost"],
            "teacher_ms": float(sum(costs)),
            "max_cost_ms": config.max_cost_ms,
            "heads": head_report,
            "n_head_texts": len(train_texts),
            "n_val": n_val,
            "n_copies": len(val_texts) - n_val,
            "threads": config.threads,
            "seconds": round(time.perf_counter() - started, 1),
            "config": asdict(config),
        }
        if not kept:
            report["note"] = (
                "no exit pays for itself at the target: the model is the teacher's file in segments"
            )
        atomic_write_json(tmp / "exits.json", report)
    return report


def _hidden_size(model) -> int:
    """The hidden size, from the first LayerNormalization's scale (the embeddings')."""
    from onnx import numpy_helper

    initializers = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "LayerNormalization" and node.input[1] in initializers:
            return int(numpy_helper.to_array(initializers[node.input[1]]).shape[0])
    raise RouterError("cannot tell the model's hidden size (no LayerNormalization scale)")


def _agreement_of(
    levels: list[np.ndarray], thresholds: list[float | None], reference: np.ndarray, n: int
) -> float:
    """Agreement with the reference of the chosen thresholds on the first ``n`` rows (the original texts)."""
    from llm_router.runtime.cascade import cascade_route

    answered = cascade_route([p[:n].max(axis=1) for p in levels], thresholds)
    routes = np.stack([p[:n].argmax(axis=1) for p in levels])[answered, np.arange(n)]
    return float((routes == reference[:n]).mean()) if n else 1.0


def exits_summary(report: dict[str, Any]) -> str:
    shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in report["shares"].items() if v)
    return (
        f"exits after layers {report['exits'] or 'none'} (candidates {report['candidate_exits']}): agreement "
        f"{100 * report['agreement_with_copies']:.1f}% on {report['n_val']} validation texts and "
        f"{report['n_copies']} copies ({100 * report['agreement']:.1f}% on the originals); {shares}; expected "
        f"{report['expected_ms']:.2f} ms a text against {report['teacher_ms']:.2f} ms for all segments"
    )
