"""`Predictor`: one object that turns texts into routes for any model folder (HF/PyTorch, ONNX, model2vec static).

>>> predictor = Predictor.load("runs/demo/student-int8", device="cpu", threads=2)
>>> predictor.predict(["write me a haiku"]).routes
['Claude']

This is what the HTTP server calls for every batch, so the path from text to route is kept lean: fast tokenizer,
one forward, a softmax and a small matrix product in numpy.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from llm_router.errors import RouterError
from llm_router.persistence import RouterInfo, read_router_info
from llm_router.utils.probs import softmax

DEVICES = ("cpu", "cuda", "auto")


@dataclass
class Prediction:
    """Predictions for ``n`` texts. Columns of ``route_probs`` follow ``Predictor.routes``, columns of
    ``label_probs`` follow ``Predictor.labels``."""

    routes: list[str]
    route_probs: np.ndarray  # [n, n_routes]
    labels: list[str]
    label_probs: np.ndarray  # [n, n_labels]
    # which policy rule decided each route and why (None: no policy.json, every route is the argmax)
    rules: list[str] | None = None
    reasons: list[str] | None = None

    def __len__(self) -> int:
        return len(self.routes)


def default_threads() -> int:
    """All the cores this process may use (``os.sched_getaffinity``), which is what a 2-core box serves with."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return os.cpu_count() or 1


def resolve_device(device: str) -> str:
    if device not in DEVICES:
        raise RouterError(f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
    if device == "auto":
        try:
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:  # pragma: no cover
            return "cpu"
    return device


class Predictor:
    """Base class: subclasses implement :meth:`_logits` (texts -> ``[n, n_labels]`` float logits)."""

    kind: ClassVar[str] = ""

    def __init__(
        self, path: str | Path, info: RouterInfo, *, device: str = "cpu", threads: int | None = None
    ):
        self.path = Path(path)
        self.info = info
        self.device = resolve_device(device)
        self.threads = int(threads) if threads else default_threads()
        if self.threads < 1:
            raise RouterError(f"threads must be >= 1 (got {threads})")
        self.labels: list[str] = list(info.labels)
        self.routes: list[str] = list(info.routes)
        self.max_length = info.max_length
        self.text_prefix = info.text_prefix
        self._route_matrix = info.route_matrix()
        self._identity_routes = self.labels == self.routes
        self._load_decision_files()

    def _load_decision_files(self) -> None:
        """``calibration.json`` (temperature) and ``policy.json`` when ``router.json`` names them; a folder
        without them predicts exactly as before (temperature 1, argmax)."""
        from llm_router.runtime.calibration import read_calibration
        from llm_router.runtime.policy import read_policy

        self.calibration = read_calibration(self.path, self.info.raw)
        self.temperature = self.calibration.temperature if self.calibration else 1.0
        bias = self.calibration.bias if self.calibration else None
        if bias is not None and len(bias) != len(self.labels):
            raise RouterError(
                f"{self.path}: calibration bias has {len(bias)} values for {len(self.labels)} labels"
            )
        self.logit_bias = None if bias is None else np.asarray(bias, dtype=np.float32)
        policy = read_policy(self.path, self.info.raw)
        self.policy = policy.compile(self.routes) if policy is not None else None

    # ------------------------------------------------------------------------------------------- loading
    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", threads: int | None = None, **options) -> Predictor:
        """Load any artefact: an HF folder (PyTorch), an ONNX folder or ``.onnx`` file (ONNX Runtime), a static
        model2vec folder. ``options`` go to the backend (e.g. ``dtype="float16"`` for PyTorch on CUDA,
        ``onnx_file="model.onnx"`` to pick another file of an ONNX folder). Called on a subclass, that backend is
        used whatever ``router.json`` says (e.g. ``OnnxPredictor.load(folder)``)."""
        folder, info = read_router_info(path)
        backend = _backend_for(info.kind) if cls is Predictor else cls
        return backend(folder, info, device=device, threads=threads, **options)

    @property
    def name(self) -> str:
        """A short display name: ``<folder>`` (plus the ONNX file when there is one)."""
        return self.path.name

    # ------------------------------------------------------------------------------------------- predicting
    def _logits(self, texts: Sequence[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _make_prediction(self, logits: np.ndarray) -> Prediction:
        if self.temperature != 1.0 or self.logit_bias is not None:
            logits = np.asarray(logits, dtype=np.float32) / np.float32(self.temperature)
            if self.logit_bias is not None:
                logits = logits + self.logit_bias
        label_probs = softmax(logits)
        labels = self.labels
        label_idx = label_probs.argmax(axis=1)
        if self._identity_routes:
            route_probs = label_probs
            route_idx = label_idx
        else:
            route_probs = label_probs @ self._route_matrix
            route_idx = route_probs.argmax(axis=1)
        routes = self.routes
        rules = reasons = None
        if self.policy is not None:
            from llm_router.runtime.policy import DECISIONS

            route_idx, codes = self.policy.decide(route_probs)
            decided = [DECISIONS[c] for c in codes.tolist()]
            rules = [d[0] for d in decided]
            reasons = [d[1] for d in decided]
        return Prediction(
            routes=[routes[i] for i in route_idx],
            route_probs=route_probs,
            labels=[labels[i] for i in label_idx],
            label_probs=label_probs,
            rules=rules,
            reasons=reasons,
        )

    def prediction_from_logits(self, logits: np.ndarray) -> Prediction:
        """The prediction (calibration and policy applied) for raw ``[n, n_labels]`` logits."""
        return self._make_prediction(np.asarray(logits, dtype=np.float32))

    def predict_one(self, text: str) -> Prediction:
        """One text (the batch-1 hot path: no padding, no sorting)."""
        return self._make_prediction(self._logits([text]))

    def predict(self, texts: Sequence[str] | str, batch_size: int = 64) -> Prediction:
        """Route ``texts``. Batches of similar length (sorted by length, returned in input order) keep padding low."""
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        n = len(texts)
        if n == 0:
            empty = np.zeros((0, len(self.labels)), dtype=np.float32)
            return self._make_prediction(empty)
        if n == 1:
            return self.predict_one(texts[0])
        return self._make_prediction(self.predict_logits(texts, batch_size))

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Raw ``[n, n_labels]`` logits, before temperature and policy (what calibration is fitted on)."""
        texts = list(texts)
        n = len(texts)
        if batch_size < 1:
            raise RouterError(f"batch size must be >= 1 (got {batch_size})")
        logits = np.empty((n, len(self.labels)), dtype=np.float32)
        if n == 0:
            return logits
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            logits[idx] = self._logits([texts[i] for i in idx])
        return logits

    def warmup(self, n: int = 3) -> None:
        """Run a few predictions so that lazy initialisation (allocators, kernels, graphs) is out of the way."""
        for _ in range(n):
            self.predict_one("warm up the router with a typical question about code")
            self.predict(["hello", "write a story about a dragon and a knight"])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(path={str(self.path)!r}, kind={self.kind!r}, device={self.device!r}, "
            f"threads={self.threads}, routes={self.routes})"
        )


def _backend_for(kind: str) -> type[Predictor]:
    if kind == "hf":
        from llm_router.runtime.torch_backend import TorchPredictor

        return TorchPredictor
    if kind == "onnx":
        from llm_router.runtime.onnx_backend import OnnxPredictor

        return OnnxPredictor
    if kind == "static":
        from llm_router.runtime.static_backend import StaticPredictor

        return StaticPredictor
    if kind == "cascade":
        from llm_router.runtime.cascade import CascadePredictor

        return CascadePredictor
    if kind == "early-exit":
        from llm_router.runtime.early_exit import EarlyExitPredictor

        return EarlyExitPredictor
    if kind == "linear":
        from llm_router.runtime.linear_backend import LinearPredictor

        return LinearPredictor
    raise RouterError(f"no runtime for model kind {kind!r}")
