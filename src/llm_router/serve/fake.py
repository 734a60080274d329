"""A stand-in model with a known cost, for testing the server and calibrating the load generator.

``router serve --model fake:20`` serves a predictor that sleeps 20 ms per inference (whatever the batch size)
and returns deterministic scores derived from a hash of each text. Options after the delay, comma-separated:

- ``per_item_ms=X``: extra X ms per text in the batch (models a compute-bound batch);
- ``warmup_s=S``: ``warmup()`` sleeps S seconds (``/ready`` stays 503 meanwhile);
- ``stall_at=N,stall_ms=M``: the N-th inference call (1-based) takes M ms instead, once (a GC pause, a
  noisy neighbour: what coordinated omission hides);
- ``fail_on=WORD``: an inference whose texts contain WORD raises (tests the batch isolation).

Example: ``fake:0`` is a zero-cost model, which measures the harness itself.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass

import numpy as np

from llm_router.errors import RouterError

DEFAULT_ROUTES = ("Claude", "gemini-mini", "gpt-o1")


@dataclass
class FakePrediction:
    routes: list[str]
    route_probs: np.ndarray


class FakePredictor:
    """Implements the part of ``runtime.Predictor`` that the server uses, with a fixed, known delay."""

    def __init__(
        self,
        delay_ms: float = 0.0,
        *,
        per_item_ms: float = 0.0,
        warmup_s: float = 0.0,
        stall_at: int | None = None,
        stall_ms: float = 0.0,
        fail_on: str | None = None,
        routes: tuple[str, ...] = DEFAULT_ROUTES,
        max_length: int = 64,
    ):
        self.delay_ms = float(delay_ms)
        self.per_item_ms = float(per_item_ms)
        self.warmup_s = float(warmup_s)
        self.stall_at = stall_at
        self.stall_ms = float(stall_ms)
        self.fail_on = fail_on
        self.routes = list(routes)
        self.max_length = max_length
        self.name = f"fake:{self.delay_ms:g}ms"
        self.calls = 0
        self.texts_seen = 0
        self.warmed_up = False
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: str) -> FakePredictor:
        """Parse ``fake:DELAY_MS[,key=value...]`` (see the module docstring)."""
        body = spec.split(":", 1)[1] if spec.startswith("fake:") else spec
        parts = [p.strip() for p in body.split(",") if p.strip()]
        kwargs: dict = {}
        try:
            if parts and "=" not in parts[0]:
                kwargs["delay_ms"] = float(parts.pop(0))
            for part in parts:
                key, _, value = part.partition("=")
                key = key.strip()
                if key in ("delay_ms", "per_item_ms", "warmup_s", "stall_ms"):
                    kwargs[key] = float(value)
                elif key == "stall_at":
                    kwargs[key] = int(value)
                elif key == "fail_on":
                    kwargs[key] = value
                else:
                    raise RouterError(f"unknown fake model option {key!r} in {spec!r}")
        except ValueError as exc:
            raise RouterError(f"bad fake model spec {spec!r}: {exc}") from None
        return cls(**kwargs)

    def warmup(self) -> None:
        if self.warmup_s > 0:
            time.sleep(self.warmup_s)
        self.warmed_up = True

    def scores(self, text: str) -> list[float]:
        """Deterministic probabilities for ``text`` (a softmax over hash-derived logits); cheap on purpose."""
        digest = hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).digest()
        logits = [b / 32.0 for b in digest[: len(self.routes)]]
        top = max(logits)
        exps = [math.exp(x - top) for x in logits]
        total = sum(exps)
        return [e / total for e in exps]

    def predict(self, texts: list[str], batch_size: int = 64) -> FakePrediction:
        with self._lock:
            self.calls += 1
            call = self.calls
            self.texts_seen += len(texts)
        delay = self.delay_ms + self.per_item_ms * len(texts)
        if self.stall_at is not None and call == self.stall_at:
            delay = self.stall_ms
        if delay > 0:
            time.sleep(delay / 1000.0)
        if self.fail_on is not None and any(self.fail_on in t for t in texts):
            raise RuntimeError(f"fake model refuses texts containing {self.fail_on!r}")
        rows = [self.scores(t) for t in texts]
        routes = [self.routes[row.index(max(row))] for row in rows]
        probs = np.array(rows, dtype=np.float64).reshape(len(rows), len(self.routes))
        return FakePrediction(routes, probs)

    def predict_one(self, text: str) -> FakePrediction:
        return self.predict([text])
