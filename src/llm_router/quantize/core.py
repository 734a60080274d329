"""`router quantize`: HF folder -> ONNX (checked against PyTorch) -> graph-optimised -> INT8 / fp16, behind an
accuracy gate on the validation split.

The gate (:mod:`llm_router.quantize.gate`): agreement of the quantised with the float ONNX model over many texts
(training + validation texts of ``split.json``, plus transfer texts when available) and the validation macro-F1
change with a paired bootstrap interval (``split.json`` ``val``, else ``test``). When the loss is real (agreement
below ``min_agreement``, or the F1-change interval entirely below ``-tolerance``), the output folder keeps only the
float model (``router.json`` serves ``model.onnx``) and :class:`GateRejected` (exit code 3) is raised - unless
``force``.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from llm_router.errors import RouterError
from llm_router.persistence import (
    RouterInfo,
    data_source,
    load_split_frame,
    read_router_info,
    read_split,
    split_part,
    write_router_json,
)
from llm_router.quantize.config import BLOCKWISE_BLOCK_SIZE, QuantizeConfig
from llm_router.quantize.exporters import (
    export_onnx,
    logit_parity,
    max_abs_logit_diff,
    model_type,
    optimize_onnx,
)
from llm_router.utils import atomic_output_dir, atomic_write_json
from llm_router.utils.files import check_replaceable

GATE_EXIT_CODE = 3
FLOAT_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
FP16_FILE = "model_fp16.onnx"
BLOCKWISE_SCRATCH = "blockwise_int8.onnx"  # --scheme auto: the blockwise candidate beside the dynamic one
# Copied from the source folder; everything else (weights, metrics of the PyTorch model) stays behind.
CARRIED_FILES = (
    "config.json",
    "split.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "sentencepiece.bpe.model",
    "spiece.model",
    "tokenizer.model",
    "train_config.json",
)
PARITY_FALLBACK_TEXTS = (
    "hi",
    "write a short poem about the sea",
    "what is the capital of france?",
    "prove that the square root of two is irrational, step by step",
    "fix this python error: TypeError: unsupported operand type(s) for +: 'int' and 'str'",
    "résume ce texte en trois phrases s'il te plaît",
    "translate 'good morning' into japanese",
    "plan a three day trip to rome with a budget of 500 euros and explain every choice in detail " * 3,
)
PARITY_OK = 1e-3  # float32 export: max |logit diff| above this is flagged in the report


@dataclass
class QuantizeResult:
    """What `router quantize` did; also written as ``quantize.json`` in the output folder."""

    out: str
    source: str
    mode: str
    served_file: str
    decision: str  # "float" (nothing to gate) | "accepted" | "rejected" | "forced" | "ungated"
    exporter: str
    opset: int
    optimized: bool
    fused_ops: dict[str, int] | None
    max_abs_logit_diff: float | None  # float ONNX vs PyTorch
    parity_ok: bool | None
    n_parity_texts: int
    f1_float: float | None = None  # macro F1 in points (0-100) on the validation split
    f1_quantized: float | None = None
    f1_drop: float | None = None
    tolerance: float = 1.0
    n_val: int = 0
    val_split: str | None = None
    agreement: float | None = None  # share of validation texts routed the same by float and quantised model
    gate: dict[str, Any] | None = (
        None  # quantize/gate.py's verdict: agreement on many texts, F1-change interval
    )
    max_abs_logprob_diff_quantized: float | None = None  # quantised vs float ONNX on the validation texts
    calib_method: str | None = None
    n_calib: int = 0
    float_layers: int = 0  # INT8: encoder layers kept float (--float-layers)
    float_ffn: str = "none"  # INT8: feed-forward projections kept float in every layer (--float-ffn)
    float_nodes: int = 0  # the MatMul nodes kept float (first layers and feed-forward projections)
    # --scheme auto: both INT8 files' flips against the float model on the validation texts, the exact test
    # between them and the scheme kept (quantize/gate.py ``choose_scheme``)
    scheme_choice: dict[str, Any] | None = None
    sizes_mb: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class GateRejected(RouterError):
    """The quantised model lost more than the tolerance; the folder keeps the float model. Exit code 3."""

    def __init__(self, result: QuantizeResult):
        self.result = result
        kept = f"kept the float model ({Path(result.out) / FLOAT_FILE})"
        if result.f1_drop is None:  # INC's tuning found no recipe within the tolerance
            message = (
                f"accuracy gate: no quantised model within {result.tolerance:g} F1 points of the float "
                f"model ({result.f1_float:.2f}); {kept}"
            )
        elif result.gate:
            hint = (
                "; --scheme blockwise (or auto) quantises closer to float"
                if result.mode == "int8-dynamic"
                else ""
            )
            message = f"accuracy gate: {result.gate['reason']}; {kept}; --force keeps the quantised one{hint}"
        else:
            message = (
                f"accuracy gate: macro F1 dropped {result.f1_drop:.2f} points ({result.f1_float:.2f} -> "
                f"{result.f1_quantized:.2f}) > tolerance {result.tolerance:g}; {kept}; --force keeps the "
                f"quantised one"
            )
        super().__init__(message, exit_code=GATE_EXIT_CODE)


# --------------------------------------------------------------------------------------------- data for the gate
@dataclass
class EvalSet:
    texts: list[str]
    truths: list[str]
    split: str


def split_rows(
    folder: Path, info: RouterInfo, data_override: str | None, splits: Sequence[str]
) -> tuple[EvalSet | None, str | None]:
    """Rows of the model's data whose text hash is in the first non-empty split of ``splits`` (from split.json)."""
    split = read_split(folder)
    if split is None:
        return None, f"{folder} has no split.json"
    name = next((s for s in splits if split.get(s)), None)
    if name is None:
        return None, f"split.json has no {'/'.join(splits)} rows"
    router = {"data": info.data}
    path, reason = data_source(router, data_override)
    if path is None:
        return None, reason
    rows, _wanted = split_part(load_split_frame(router, path, with_gold=False), split, name)
    if rows.empty:
        return None, f"none of the {name} rows of split.json are in {path} (wrong --data?)"
    return EvalSet(rows["text"].tolist(), rows["label"].tolist(), name), None


def read_texts(path: str | Path, text_col: str = "text") -> list[str]:
    """Calibration texts: a ``.txt`` file (one per line) or any data file with a ``text_col`` column."""
    path = Path(path).expanduser()
    if not path.exists():
        raise RouterError(f"{path}: no such file")
    if path.suffix.lower() == ".txt":
        texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        from llm_router.data import read_table

        table = read_table(path)
        if text_col not in table.columns:
            raise RouterError(
                f"{path}: no text column {text_col!r} (columns: {', '.join(map(str, table.columns))})"
            )
        texts = [str(t).strip() for t in table[text_col].dropna()]
    texts = [t for t in texts if t]
    if not texts:
        raise RouterError(f"{path}: no texts")
    return texts


def macro_f1(truths: Sequence[str], predictions: Sequence[str]) -> float:
    """Macro F1 in points (0-100), over every class seen in either list."""
    from sklearn.metrics import f1_score

    return 100.0 * float(f1_score(list(truths), list(predictions), average="macro", zero_division=0))


# --------------------------------------------------------------------------------------------- the command
@contextlib.contextmanager
def _step(console, message: str) -> Iterator[None]:
    if console is None:
        yield
        return
    start = time.perf_counter()
    with console.status(f"{message}..."):
        yield
    console.print(f"[green]✓[/] {message} [dim]({time.perf_counter() - start:.1f}s)[/]")


def _size_mb(path: Path) -> float:
    return round(path.stat().st_size / 1e6, 2)


def _copy_support_files(src: Path, dst: Path) -> None:
    for name in CARRIED_FILES:
        if (src / name).exists():
            shutil.copyfile(src / name, dst / name)
    if not (dst / "tokenizer.json").exists():  # the runtime tokenises with the fast tokenizer's JSON
        from llm_router.runtime.tokenize import load_fast_tokenizer

        load_fast_tokenizer(src).save(str(dst / "tokenizer.json"))


def _router_json(info: RouterInfo, onnx_file: str, mode: str) -> dict[str, Any]:
    return {
        **info.to_record(),
        "kind": "onnx",
        "onnx_file": onnx_file,
        "created_by": "router quantize",
        "quantization": mode,
    }


def quantize_model(config: QuantizeConfig, console=None) -> QuantizeResult:
    """Run `router quantize`. Returns the result; raises :class:`GateRejected` (exit code 3) after writing the
    folder (float model only) when the quantised model fails the gate and ``config.force`` is off."""
    started = time.perf_counter()
    source, info, out = _check_source(config)
    check_replaceable(out, keep=[source])
    gated = config.int8 or config.fp16
    notes: list[str] = []
    val = _gate_rows(config, source, info, notes) if gated else None
    calib_texts = _calibration_texts(config, source, info) if config.static else []
    result = QuantizeResult(
        out=str(out),
        source=str(source),
        mode=config.mode,
        served_file=FLOAT_FILE,
        decision="float",
        exporter="",
        opset=config.opset,
        optimized=False,
        fused_ops=None,
        max_abs_logit_diff=None,
        parity_ok=None,
        n_parity_texts=0,
        tolerance=config.tolerance,
        n_val=len(val.texts) if val else 0,
        val_split=val.split if val else None,
        notes=notes,
    )
    with atomic_output_dir(out) as tmp:
        _copy_support_files(source, tmp)
        scratch = tmp / ".scratch"
        scratch.mkdir()
        float_file = tmp / FLOAT_FILE
        write_router_json(tmp, _router_json(info, FLOAT_FILE, config.mode))
        raw_file = scratch / "exported.onnx"  # the export before the transformer optimizer (INT8 starts here)
        onnx_float = _float_model(config, source, info, tmp, raw_file, val, result, console)
        result.sizes_mb[FLOAT_FILE] = _size_mb(float_file)
        if gated:
            _quantize_and_gate(
                config, source, info, tmp, raw_file, onnx_float, val, calib_texts, result, console
            )
        del onnx_float
        shutil.rmtree(scratch)
        served_mode = result.mode if result.served_file != FLOAT_FILE else "float"
        write_router_json(tmp, _router_json(info, result.served_file, served_mode))
        result.seconds = round(time.perf_counter() - started, 2)
        atomic_write_json(tmp / "quantize.json", result.to_dict())
    if result.decision == "rejected":
        raise GateRejected(result)
    return result


def _check_source(config: QuantizeConfig) -> tuple[Path, RouterInfo, Path]:
    """The source folder (an HF folder, or an ONNX one with its float model), its router.json and ``--out``."""
    source, info = read_router_info(config.model)
    if info.kind not in ("hf", "onnx"):
        raise RouterError(f"{source}: kind {info.kind!r} cannot be quantised (needs an HF or ONNX folder)")
    if info.kind == "onnx" and not (source / FLOAT_FILE).exists():
        raise RouterError(f"{source}: an ONNX folder to re-quantise needs its float {FLOAT_FILE}")
    out = Path(config.out).expanduser()
    if out.resolve() == source.resolve():
        raise RouterError("--out must differ from --model")
    if config.backend == "inc":
        from llm_router.quantize.inc import require_inc

        require_inc()
    return source, info, out


def _gate_rows(config: QuantizeConfig, source: Path, info: RouterInfo, notes: list[str]) -> EvalSet | None:
    """The accuracy gate's rows (validation split, else test); without them an error, or with ``--force`` a
    note and no gate."""
    val, reason = split_rows(source, info, config.data, ("val", "test"))
    if val is None:
        if not config.force:
            raise RouterError(
                f"cannot run the accuracy gate: {reason} (pass --data FILE, or --force to quantise without it)"
            )
        notes.append(f"no accuracy gate: {reason}")
    return val


def _calibration_texts(config: QuantizeConfig, source: Path, info: RouterInfo) -> list[str]:
    """Static INT8 calibration texts: ``--calib-data``, else the training split; sampled to ``calib_size``."""
    if config.calib_data:
        text_col = (info.data or {}).get("text_col", "text")
        calib_texts = read_texts(config.calib_data, text_col)
    else:
        train, reason = split_rows(source, info, config.data, ("train",))
        if train is None:
            raise RouterError(f"no calibration texts: {reason} (pass --calib-data FILE)")
        calib_texts = train.texts
    if len(calib_texts) > config.calib_size:
        calib_texts = random.Random(config.seed).sample(calib_texts, config.calib_size)
    return calib_texts


def _float_model(config, source: Path, info: RouterInfo, tmp: Path, raw_file: Path, val, result, console):
    """``model.onnx`` in ``tmp``: exported (and graph-optimised) from an HF folder and checked against PyTorch,
    or copied from an ONNX folder. Returns its predictor."""
    from llm_router.runtime.onnx_backend import OnnxPredictor

    float_file, notes = tmp / FLOAT_FILE, result.notes
    if info.kind != "hf":
        shutil.copyfile(source / FLOAT_FILE, float_file)
        shutil.copyfile(float_file, raw_file)
        result.exporter = "copied"
        return OnnxPredictor(tmp, info, threads=config.threads, onnx_file=FLOAT_FILE)
    with _step(console, f"exporting {source.name} to ONNX (opset {config.opset})"):
        result.exporter = export_onnx(source, raw_file, config.opset)
    if config.optimize:
        with _step(console, "optimising the graph (ONNX Runtime transformer optimizer)"):
            result.fused_ops = optimize_onnx(raw_file, float_file, model_type(source))
        result.optimized = result.fused_ops is not None
        if not result.optimized:
            notes.append(f"transformer optimizer skipped: model type {model_type(source)!r} not BERT-like")
    else:
        shutil.copyfile(raw_file, float_file)
    with _step(console, "checking ONNX against PyTorch"):
        from llm_router.runtime.torch_backend import TorchPredictor

        parity = list(val.texts[: config.parity_texts]) if val else []
        parity = parity or list(PARITY_FALLBACK_TEXTS)
        torch_predictor = TorchPredictor(source, info, threads=config.threads)
        onnx_float = OnnxPredictor(tmp, info, threads=config.threads, onnx_file=FLOAT_FILE)
        result.max_abs_logit_diff = logit_parity(torch_predictor, onnx_float, parity)
        result.parity_ok = result.max_abs_logit_diff <= PARITY_OK
        result.n_parity_texts = len(parity)
        del torch_predictor
    if not result.parity_ok:
        notes.append(f"max |logit diff| vs PyTorch {result.max_abs_logit_diff:.2e} > {PARITY_OK:g}")
    return onnx_float


def _quantize_and_gate(
    config, source: Path, info, tmp: Path, raw_file: Path, onnx_float, val, calib_texts, result, console
):
    """The INT8 / fp16 model, the accuracy gate on it, and which file is served."""
    quant_name = FP16_FILE if config.fp16 else INT8_FILE
    quant_file = tmp / quant_name
    with _step(
        console, f"quantising ({'int8-dynamic and int8-blockwise' if _auto(config) else config.mode})"
    ):
        _quantize(
            config, info, tmp, tmp / FLOAT_FILE, raw_file, quant_file, onnx_float, val, calib_texts, result
        )
    if _auto(config):
        with _step(console, "choosing the INT8 scheme on the validation texts"):
            _choose_scheme(
                config, info, tmp, quant_file, raw_file.parent / BLOCKWISE_SCRATCH, onnx_float, val, result
            )
    if quant_file.exists():  # (INC writes nothing when no recipe met the tolerance)
        result.sizes_mb[quant_name] = _size_mb(quant_file)
        if val is not None:
            from llm_router.quantize.gate import gate_texts_for

            pool = gate_texts_for(
                source, info, config.data, config.gate_texts, val.texts, config.gate_config()
            )
            with _step(console, f"accuracy gate on {len(pool.texts)} texts ({val.split}: {len(val.texts)})"):
                _gate(config, info, tmp, quant_name, onnx_float, val, result, pool)
        else:
            result.decision = "ungated"
    if result.decision == "rejected":
        quant_file.unlink(missing_ok=True)
        result.sizes_mb.pop(quant_name, None)
    else:
        result.served_file = quant_name


def _auto(config: QuantizeConfig) -> bool:
    return config.int8 and not config.static and config.backend == "ort" and config.scheme == "auto"


def _choose_scheme(
    config, info, tmp: Path, dynamic_file: Path, blockwise_file: Path, onnx_float, val, result
):
    """``--scheme auto``: keep the dynamic INT8 file unless the blockwise one flips significantly fewer validation
    routes against the float model (``choose_scheme``); the kept one becomes ``quant_file``."""
    from llm_router.quantize.gate import choose_scheme
    from llm_router.runtime.onnx_backend import OnnxPredictor

    if val is None or not blockwise_file.exists():  # nothing held out to decide on, or no blockwise file
        why = "no validation texts to compare the schemes on" if val is None else "no blockwise file"
        result.scheme_choice = {"chosen": "dynamic", "reason": f"dynamic: {why}"}
        return
    float_routes = onnx_float.predict(val.texts).routes
    routes = {
        name: OnnxPredictor(tmp, info, threads=config.threads, onnx_file=str(path.resolve()), per_text=True)
        .predict(val.texts)
        .routes
        for name, path in (("dynamic", dynamic_file), ("blockwise", blockwise_file))
    }
    result.scheme_choice = choose_scheme(
        float_routes, routes["dynamic"], routes["blockwise"], min_agreement=config.min_agreement
    )
    if result.scheme_choice["chosen"] == "blockwise":
        shutil.move(blockwise_file, dynamic_file)
        result.mode = "int8-blockwise"
        result.float_layers, result.float_ffn, result.float_nodes = 0, "none", 0


def _quantize(
    config: QuantizeConfig,
    info: RouterInfo,
    tmp: Path,
    float_file: Path,
    raw_file: Path,
    quant_file: Path,
    onnx_float,
    val: EvalSet | None,
    calib_texts: list[str],
    result: QuantizeResult,
) -> None:
    if config.fp16:
        from llm_router.quantize.exporters import convert_fp16

        convert_fp16(float_file, quant_file)
        return
    from llm_router.quantize.int8 import (
        TextCalibrationReader,
        ffn_nodes,
        first_layer_nodes,
        quantize_blockwise_int8,
        quantize_dynamic_int8,
        quantize_static_int8,
    )

    reader = TextCalibrationReader(
        onnx_float.tokenizer,
        calib_texts,
        onnx_float.input_names,
        fixed_shape=config.static and config.calib_method != "minmax",
    )
    if config.static:
        result.calib_method = config.calib_method
        result.n_calib = len(calib_texts)
    if config.backend == "inc":
        from llm_router.quantize.inc import quantize_with_inc
        from llm_router.runtime.onnx_backend import OnnxPredictor

        if val is None:
            raise RouterError("--backend inc tunes against the validation split, and there is none")

        def evaluate(candidate: Path) -> float:
            predictor = OnnxPredictor(tmp, info, threads=config.threads, onnx_file=str(candidate.resolve()))
            return macro_f1(val.truths, predictor.predict(val.texts).routes)

        baseline = macro_f1(val.truths, onnx_float.predict(val.texts).routes)
        # INC pattern-matches the plain exported graph (it runs ORT's own basic optimisation), not the fused one
        trials, found = quantize_with_inc(
            raw_file,
            quant_file,
            evaluate=evaluate,
            baseline_f1=baseline,
            reader=reader,
            static=config.static,
            tolerance_points=config.tolerance,
            calibrate_method=config.calib_method,
        )
        result.notes.append(f"Intel Neural Compressor: {trials} recipe(s) evaluated")
        if config.float_layers:
            result.notes.append("--float-layers does not apply to --backend inc (it tunes its own recipe)")
        if not found:
            result.f1_float = round(baseline, 4)
            result.decision = "rejected"
            result.notes.append(f"no INC recipe stayed within {config.tolerance:g} F1 points")
    # INT8 starts from the plain export, not the fused graph: quantising the fused graph's MatMuls leaves the
    # fused Attention's QKV projection in float (measured 1.4x slower on BERT-base); ONNX Runtime fuses the
    # quantised graph itself when it loads it.
    else:
        if config.scheme in ("blockwise", "auto"):  # (the config allows them without --static only)
            blockwise_file = raw_file.parent / BLOCKWISE_SCRATCH if config.scheme == "auto" else quant_file
            try:
                quantize_blockwise_int8(raw_file, blockwise_file, block_size=BLOCKWISE_BLOCK_SIZE)
            except RouterError as exc:
                if config.scheme == "blockwise":
                    raise
                result.notes.append(f"--scheme auto: {exc}; kept dynamic INT8")
            if config.scheme == "blockwise":  # no float layers: result.float_* keep their defaults
                if config.float_layers or config.float_ffn != "none":
                    result.notes.append("--float-layers / --float-ffn do not apply to --scheme blockwise")
                return
        op_types = config.op_types or ("MatMul",)
        first = first_layer_nodes(raw_file, config.float_layers, op_types)
        ffn = ffn_nodes(raw_file, config.float_ffn, op_types)
        keep_float = list(dict.fromkeys(first + ffn))
        result.float_layers = config.float_layers if first else 0
        result.float_ffn = config.float_ffn if ffn else "none"
        result.float_nodes = len(keep_float)
        if config.float_layers and not first:
            result.notes.append(
                f"--float-layers {config.float_layers}: the export names no encoder layers; every layer is INT8"
            )
        if config.float_ffn != "none" and not ffn:
            result.notes.append(
                f"--float-ffn {config.float_ffn}: no feed-forward projections found by name; they are INT8"
            )
        if config.static:
            quantize_static_int8(
                raw_file,
                quant_file,
                reader,
                method=config.calib_method,
                per_channel=config.per_channel,
                op_types=config.op_types,
                nodes_to_exclude=keep_float,
            )
        else:
            quantize_dynamic_int8(
                raw_file,
                quant_file,
                per_channel=config.per_channel,
                op_types=config.op_types,
                nodes_to_exclude=keep_float,
            )


def _gate(
    config: QuantizeConfig,
    info: RouterInfo,
    tmp: Path,
    quant_name: str,
    onnx_float,
    val: EvalSet,
    result: QuantizeResult,
    pool=None,
) -> None:
    """Score the quantised model against the float one; ``pool`` (:class:`~llm_router.quantize.gate.GateTexts`,
    validation texts first) are the agreement texts (default: the validation texts only)."""
    from llm_router.quantize.gate import GateTexts, judge
    from llm_router.runtime.onnx_backend import PER_TEXT_QUANTIZATION, OnnxPredictor

    pool = pool or GateTexts(list(val.texts), ["val"] * len(val.texts))
    n_val = len(val.texts)

    device = "cpu"
    if config.fp16:
        import onnxruntime as ort

        device = "cuda" if "CUDAExecutionProvider" in ort.get_available_providers() else "cpu"
    before_all = onnx_float.predict(pool.texts)
    try:
        # one text per call where the served file will run that way (dynamic / blockwise INT8 on the CPU):
        # batched, a dynamic file's answers depend on the batch (seed teacher: 3 of 39 validation routes
        # flipped in batches, 6 one at a time)
        per_text = result.mode in PER_TEXT_QUANTIZATION and device == "cpu"
        quantized = OnnxPredictor(
            tmp, info, device=device, threads=config.threads, onnx_file=quant_name, per_text=per_text
        )
        after_all = quantized.predict(pool.texts)
    except Exception as exc:
        if not config.force:
            raise RouterError(
                f"cannot evaluate {quant_name} on {device} for the accuracy gate "
                f"({' '.join(str(exc).split())[:200]}); --force keeps it ungated"
            ) from None
        result.notes.append(f"{quant_name} could not be evaluated on {device}: kept ungated (--force)")
        result.decision = "ungated"
        return
    before, after = _head(before_all, n_val), _head(after_all, n_val)
    result.f1_float = round(macro_f1(val.truths, before.routes), 4)
    result.f1_quantized = round(macro_f1(val.truths, after.routes), 4)
    result.f1_drop = round(result.f1_float - result.f1_quantized, 4)
    result.agreement = round(
        float(np.mean([a == b for a, b in zip(before.routes, after.routes, strict=True)])), 4
    )
    result.max_abs_logprob_diff_quantized = max_abs_logit_diff(
        np.log(np.clip(before.label_probs, 1e-12, None)), np.log(np.clip(after.label_probs, 1e-12, None))
    )
    verdict = judge(
        before_all.routes,
        after_all.routes,
        pool.sources,
        val.truths,
        info.routes,
        config.gate_config(),
        pool.origins,
    )
    result.gate = verdict.to_dict()
    if verdict.decision == "rejected":
        result.decision = "forced" if config.force else "rejected"
    else:
        result.decision = "accepted"
        if result.f1_drop > config.tolerance:
            result.notes.append(
                f"validation F1 dropped {result.f1_drop:.2f} points > {config.tolerance:g}, but the interval "
                f"{verdict.f1_change_ci} reaches above -{config.tolerance:g} and agreement is "
                f"{100 * verdict.agreement:.1f}% on {verdict.n_agreement_texts} texts: not a real loss"
            )


def _head(prediction, n: int):
    """The first ``n`` rows of a :class:`~llm_router.runtime.Prediction`."""
    from llm_router.runtime.predictor import Prediction

    return Prediction(
        routes=prediction.routes[:n],
        route_probs=prediction.route_probs[:n],
        labels=prediction.labels[:n],
        label_probs=prediction.label_probs[:n],
    )
