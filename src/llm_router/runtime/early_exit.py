"""`EarlyExitPredictor`: one encoder cut into segments, with a small head after each cut (``kind: "early-exit"``).

An early-exit folder holds the served ONNX file of a teacher split at a few layer boundaries (``segment_0.onnx``:
embeddings and the first layers; each next segment continues from the previous one's hidden states; the last one
ends in the teacher's own classifier) and one linear *exit head* per cut (``exit_heads.npz``: route logits from
the mean of the hidden states over the text's tokens and the first token's). A text runs the first segment; the
exit head after it answers when its top route probability is ``>= threshold``; otherwise the text runs the next
segment from where the first one stopped. So a text that goes all the way costs the teacher plus the heads (a few
microseconds each) and a few extra ONNX Runtime calls, and its route is the teacher's file's own: unlike a cascade
of separate models (static -> student -> teacher), escalation recomputes nothing.

``router.json`` (see docs/ARTEFACTS.md)::

    {"format": "llm-router/1", "kind": "early-exit", "labels": [...], "routes": [...], "route_map": null,
     "text_prefix": "query: ", "max_length": 40, "quantization": "int8-dynamic",
     "segments": ["segment_0.onnx", "segment_1.onnx", "segment_2.onnx"],
     "exits": [{"layer": 2, "threshold": 0.91}, {"layer": 6, "threshold": 0.8}],
     "heads": "exit_heads.npz", "created_by": "router exits"}

``exits[i]`` follows ``segments[i]``; the last segment has no exit (it is the teacher's classifier). Heads give
route probabilities; the last segment gives the teacher's label logits, mapped to routes like any folder's. Like a
cascade, the model's labels are its routes and its probabilities those of whichever part answered, and
:meth:`EarlyExitPredictor.predict_degraded` (brownout) lets an earlier exit answer whatever reaches it. Dynamic and
blockwise INT8 segments run one text per call (batch-independent answers, as ``OnnxPredictor.per_text``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llm_router.errors import RouterError
from llm_router.persistence import RouterInfo
from llm_router.runtime.cascade import CascadePrediction, LevelledPredictor
from llm_router.runtime.onnx_backend import PER_TEXT_QUANTIZATION, providers_for, session_options
from llm_router.runtime.tokenize import FastTokenizer
from llm_router.utils.probs import softmax

EARLY_EXIT_KIND = "early-exit"
HEADS_FILE = "exit_heads.npz"
FINAL_NAME = "teacher"  # the level name of the last segment


@dataclass
class ExitHead:
    """A linear head over pooled hidden states: route logits = features @ weight.T + bias, where the features are
    the masked mean over tokens and the first token's state, concatenated (``[2 * hidden]``)."""

    weight: np.ndarray  # [n_routes, 2 * hidden]
    bias: np.ndarray  # [n_routes]

    def probs(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.probs_of(pooled_features(hidden, mask))

    def probs_of(self, features: np.ndarray) -> np.ndarray:
        """Route probabilities from pooled features (:func:`pooled_features`)."""
        return softmax(np.asarray(features, dtype=np.float32) @ self.weight.T + self.bias)


def pooled_features(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``[n, 2 * hidden]``: the mean of ``hidden`` ``[n, seq, hidden]`` over the tokens ``mask`` keeps, and the first
    token's state."""
    m = np.asarray(mask, dtype=np.float32)[:, :, None]
    mean = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)
    return np.concatenate([mean, hidden[:, 0, :]], axis=1).astype(np.float32)


def read_heads(path: Path, n_heads: int, n_routes: int) -> list[ExitHead]:
    """The ``n_heads`` exit heads of ``path`` (an ``.npz`` with ``weight_<i>`` and ``bias_<i>``), checked."""
    if not path.exists():
        raise RouterError(f"{path}: no such exit-head file")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            heads = [
                ExitHead(arrays[f"weight_{i}"].astype(np.float32), arrays[f"bias_{i}"].astype(np.float32))
                for i in range(n_heads)
            ]
    except (KeyError, ValueError, OSError) as exc:
        raise RouterError(f"{path}: not a file of {n_heads} exit heads ({exc})") from None
    for i, head in enumerate(heads):
        if head.weight.ndim != 2 or head.weight.shape[0] != n_routes or head.bias.shape != (n_routes,):
            raise RouterError(
                f"{path}: head {i} has shape {head.weight.shape}, expected ({n_routes}, 2 x hidden)"
            )
    return heads


def write_heads(path: Path, heads: Sequence[ExitHead]) -> None:
    arrays: dict[str, Any] = {}
    for i, head in enumerate(heads):
        arrays[f"weight_{i}"] = np.asarray(head.weight, dtype=np.float32)
        arrays[f"bias_{i}"] = np.asarray(head.bias, dtype=np.float32)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def parse_exits(raw: dict[str, Any], where: str) -> tuple[list[str], list[int], list[float | None]]:
    """``segments``, exit layers and thresholds of an early-exit ``router.json``, checked."""
    segments, exits = raw.get("segments"), raw.get("exits")
    if not isinstance(segments, list) or not segments or not all(isinstance(s, str) for s in segments):
        raise RouterError(f"{where}: an early-exit model needs a list of 'segments' (ONNX file names)")
    if not isinstance(exits, list) or len(exits) != len(segments) - 1:
        raise RouterError(f"{where}: {len(segments)} segments need {len(segments) - 1} 'exits'")
    layers, thresholds = [], []
    for i, item in enumerate(exits):
        if not isinstance(item, dict) or not isinstance(item.get("layer"), int):
            raise RouterError(f"{where}: exit {i} needs an integer 'layer'")
        threshold = item.get("threshold")
        if threshold is not None and not (isinstance(threshold, int | float) and 0.0 <= threshold <= 1.0):
            raise RouterError(f"{where}: exit {i} threshold {threshold!r} is not a number in [0, 1]")
        layers.append(item["layer"])
        thresholds.append(None if threshold is None else float(threshold))
    return segments, layers, thresholds


class EarlyExitPredictor(LevelledPredictor):
    """Runs the segments of an early-exit folder in turn (see the module docstring)."""

    kind = EARLY_EXIT_KIND

    def __init__(
        self, path: str | Path, info: RouterInfo, *, device: str = "cpu", threads: int | None = None
    ):
        super().__init__(path, info, device=device, threads=threads)
        import onnxruntime as ort

        where = str(self.path / "router.json")
        files, self.exit_layers, self._thresholds = parse_exits(info.raw, where)
        self.heads = read_heads(
            self.path / str(info.raw.get("heads") or HEADS_FILE), len(files) - 1, len(self.routes)
        )
        self.tokenizer = FastTokenizer.from_folder(self.path, self.max_length, self.text_prefix)
        self.sessions = []
        for name in files:
            file = self.path / name
            if not file.exists():
                raise RouterError(f"{self.path}: segment {name} not found")
            try:
                session = ort.InferenceSession(
                    str(file), session_options(self.threads), providers=providers_for(self.device)
                )
            except Exception as exc:
                raise RouterError(
                    f"{file}: ONNX Runtime cannot load it ({' '.join(str(exc).split())[:300]})"
                ) from None
            self.sessions.append(session)
        self._inputs = [[i.name for i in s.get_inputs()] for s in self.sessions]
        self.per_text = info.raw.get("quantization") in PER_TEXT_QUANTIZATION and self.device == "cpu"
        self._start_counts([*(f"exit-{layer}" for layer in self.exit_layers), FINAL_NAME])

    @property
    def name(self) -> str:
        return f"{self.path.name} (exits after layers {', '.join(map(str, self.exit_layers))})"

    @property
    def thresholds(self) -> list[float | None]:
        return [*self._thresholds, None]

    # ------------------------------------------------------------------------------------------- predicting
    def feeds(
        self, i: int, features: dict[str, np.ndarray], hidden: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        if i == 0:
            return {name: features[name] for name in self._inputs[0]}
        return {self._inputs[i][0]: hidden, "attention_mask": features["attention_mask"]}

    def segment_outputs(self, features: dict[str, np.ndarray]) -> Iterator[np.ndarray]:
        """Each segment's output in turn for one tokenised batch (``features``): the hidden states after each cut,
        then the last segment's logits. A caller that stops early runs no further segment."""
        hidden = None
        for i, session in enumerate(self.sessions):
            hidden = session.run(None, self.feeds(i, features, hidden))[0]
            yield hidden

    def final_probs(self, logits: np.ndarray) -> np.ndarray:
        probs = softmax(np.asarray(logits, dtype=np.float32))
        return probs if self._identity_routes else probs @ self._route_matrix

    def _route_one(self, text: str, last: int) -> tuple[np.ndarray, int]:
        """One text through the segments: (route probabilities, index of the level that answered). ``last``: the
        level that answers whatever reaches it (the final segment, or an earlier exit under brownout)."""
        features = self.tokenizer.encode([text])
        mask = features["attention_mask"]
        for i, out in enumerate(self.segment_outputs(features)):
            if i == len(self.heads):
                return self.final_probs(out)[0], i
            hidden = out
            threshold = self._thresholds[i]
            if threshold is None and i != last:
                continue  # a skipped exit: its segment still runs, its head does not
            probs = self.heads[i].probs(hidden, mask)[0]
            if i == last or probs.max() >= threshold:
                return probs, i
        raise AssertionError("unreachable: the last segment always answers")

    def _run(self, texts: list[str], batch_size: int = 1, drop: int = 0) -> CascadePrediction:
        """One text at a time for per-text (INT8) files, or under brownout; else :meth:`_run_batch`
        (``batch_size`` is not used: the texts go as one padded batch per segment)."""
        if not self.per_text and not drop and len(texts) > 1:
            return self._run_batch(texts)
        last = len(self.sessions) - 1 - drop
        probs = np.zeros((len(texts), len(self.routes)), dtype=np.float32)
        levels = np.zeros(len(texts), dtype=np.int64)
        for j, text in enumerate(texts):
            probs[j], levels[j] = self._route_one(text, last)
        return self._counted(probs, levels, degraded=len(texts) if drop else 0)

    def _run_batch(self, texts: list[str]) -> CascadePrediction:
        """A float (batch-independent) model: one padded batch per segment, the undecided rows going on."""
        features = self.tokenizer.encode(texts)
        n = len(texts)
        probs = np.zeros((n, len(self.routes)), dtype=np.float32)
        levels = np.full(n, len(self.sessions) - 1, dtype=np.int64)
        pending = np.arange(n)
        hidden = None
        for i, session in enumerate(self.sessions):
            sub = {k: v[pending] for k, v in features.items()}
            out = session.run(None, self.feeds(i, sub, hidden))[0]
            if i == len(self.heads):
                probs[pending] = self.final_probs(out)
                break
            hidden = out
            if self._thresholds[i] is None:
                continue
            head = self.heads[i].probs(hidden, sub["attention_mask"])
            take = head.max(axis=1) >= self._thresholds[i]
            probs[pending[take]], levels[pending[take]] = head[take], i
            pending, hidden = pending[~take], hidden[~take]
            if len(pending) == 0:
                break
        return self._counted(probs, levels)
