"""`CascadePredictor`: a confidence cascade of other model folders (``kind: "cascade"`` in ``router.json``).

A cascade folder lists its *levels*, cheapest first, each a path to another model folder (any kind but cascade)
and a threshold. A text goes to the first level; that level answers when its top route probability is
``>= threshold``, otherwise the text goes on to the next level. The last level (usually the teacher) has no
threshold and answers whatever is left. A level whose threshold is ``null`` is skipped (not even loaded).

``router.json`` of a cascade (see docs/ARTEFACTS.md)::

    {"format": "llm-router/1", "kind": "cascade", "labels": [...routes], "routes": [...],
     "levels": [{"name": "static", "path": "../static", "threshold": 0.99},
                {"name": "student-int8", "path": "../student-int8", "threshold": 0.95},
                {"name": "teacher-int8", "path": "../teacher-int8", "threshold": null}],
     "target_agreement": 0.97, "validation": {...}, "data": {...}, "created_by": "router cascade"}

Relative level paths are resolved against the cascade folder, so a run folder can be moved as a whole. Levels
are batched: every level predicts all its pending texts in one :meth:`Predictor.predict` call, and only the rows
it leaves undecided go on. The cascade works on routes (levels may have finer labels with a ``route_map``): its
labels are its routes, its probabilities those of the level that answered.

Under overload a server may call :meth:`CascadePredictor.predict_degraded`, which leaves out the most expensive
level(s): the last level kept answers whatever reaches it. Quality falls (those texts get a cheaper model's
answer) instead of availability (a refused request gets none). ``level_counts`` says how many texts each level
answered and how many were routed that way.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llm_router.errors import RouterError
from llm_router.persistence import RouterInfo, read_router_info
from llm_router.runtime.predictor import Prediction, Predictor

CASCADE_KIND = "cascade"


@dataclass
class CascadeLevel:
    """One level of a cascade as ``router.json`` lists it. ``threshold`` None: the last level (answers every
    text that reaches it) or, on an earlier level, a skipped one."""

    name: str
    path: str  # relative to the cascade folder, or absolute
    threshold: float | None = None

    def resolve(self, folder: Path) -> Path:
        path = Path(self.path).expanduser()
        return path if path.is_absolute() else (folder / path)


@dataclass
class CascadePrediction(Prediction):
    """A :class:`Prediction` plus ``levels``: the index (into ``CascadePredictor.level_names``) of the level that
    answered each text."""

    levels: np.ndarray | None = None


def parse_levels(raw: dict[str, Any], where: str) -> list[CascadeLevel]:
    """The ``levels`` of a cascade ``router.json``, checked: at least two, thresholds in [0, 1] or null."""
    items = raw.get("levels")
    if not isinstance(items, list) or len(items) < 2:
        raise RouterError(f"{where}: a cascade needs a list of at least two 'levels'")
    levels = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not item.get("path"):
            raise RouterError(f"{where}: level {i} needs a 'path'")
        threshold = item.get("threshold")
        if threshold is not None:
            try:
                threshold = float(threshold)
            except (TypeError, ValueError):
                raise RouterError(f"{where}: level {i} threshold {threshold!r} is not a number") from None
            if not 0.0 <= threshold <= 1.0:
                raise RouterError(f"{where}: level {i} threshold {threshold} is outside [0, 1]")
        name = str(item.get("name") or Path(str(item["path"])).name)
        levels.append(CascadeLevel(name=name, path=str(item["path"]), threshold=threshold))
    if levels[-1].threshold is not None:
        levels[-1].threshold = None  # the last level answers everything that reaches it
    return levels


def cascade_route(top_probs: Sequence[np.ndarray], thresholds: Sequence[float | None]) -> np.ndarray:
    """Which level answers each row, given every level's top probability per row (``[n]`` arrays, cheapest
    first) and the thresholds (None on a non-last level: skipped). The same rule as :class:`CascadePredictor`;
    used to choose thresholds offline."""
    n = len(top_probs[0])
    answered = np.full(n, len(top_probs) - 1, dtype=np.int64)
    pending = np.ones(n, dtype=bool)
    for i, (top, threshold) in enumerate(zip(top_probs[:-1], thresholds[:-1], strict=True)):
        if threshold is None:
            continue
        take = pending & (np.asarray(top) >= threshold)
        answered[take] = i
        pending &= ~take
    return answered


class LevelledPredictor(Predictor):
    """A model that answers each text at one of several levels (a cascade, an early-exit model). Subclasses
    implement :meth:`_run`; this class gives them the Predictor's entry points on top of it (predictions are
    route probabilities of the level that answered, labels = routes), brownout (:meth:`predict_degraded`) and
    what they count: ``level_names``, texts answered per level and texts routed degraded, since load or
    :meth:`reset_counts`; the server's ``/metrics`` and `router bench` read :meth:`level_counts`."""

    level_names: list[str]

    def _run(self, texts: list[str], batch_size: int, drop: int = 0) -> CascadePrediction:  # pragma: no cover
        """Route ``texts`` (non-empty); with ``drop``, the ``drop`` most expensive levels are left out and the last
        level kept answers whatever reaches it."""
        raise NotImplementedError

    def _logits(self, texts: Sequence[str]) -> np.ndarray:
        """Log-probabilities of the answering level (softmax gives them back): keeps the base-class contract."""
        probs = self._run(list(texts), 64).route_probs
        return np.log(np.clip(probs, 1e-30, None))

    def predict_one(self, text: str) -> CascadePrediction:
        return self._run([text], 1)

    def predict(self, texts: Sequence[str] | str, batch_size: int = 64) -> CascadePrediction:
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if batch_size < 1:
            raise RouterError(f"batch size must be >= 1 (got {batch_size})")
        if not texts:
            empty = np.zeros((0, len(self.routes)), dtype=np.float32)
            return CascadePrediction([], empty, [], empty, levels=np.zeros(0, dtype=np.int64))
        return self._run(texts, batch_size)

    def predict_degraded(
        self, texts: Sequence[str], batch_size: int = 64, drop: int = 1
    ) -> CascadePrediction:
        """Like :meth:`predict` without the ``drop`` most expensive levels: the last level kept answers every text
        that reaches it, whatever its threshold. A server under overload calls this (``ServeConfig.brownout_ms``)
        to answer sooner at a lower agreement with the teacher; ``drop`` is clipped so that one level remains."""
        drop = max(0, min(int(drop), len(self.level_names) - 1))
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts or not drop:
            return self.predict(texts, batch_size)
        return self._run(texts, batch_size, drop)

    def warmup(self, n: int = 3) -> None:
        super().warmup(n)
        self.reset_counts()

    def _start_counts(self, names: Sequence[str]) -> None:
        self.level_names = list(names)
        self.answered = np.zeros(len(self.level_names), dtype=np.int64)  # texts answered per level
        self.degraded = 0  # texts routed by predict_degraded
        self._count_lock = threading.Lock()

    def _counted(self, probs: np.ndarray, levels: np.ndarray, degraded: int = 0) -> CascadePrediction:
        """Count the texts each level answered and return their prediction (route probabilities ``probs``,
        labels = routes)."""
        with self._count_lock:
            self.answered += np.bincount(levels, minlength=len(self.level_names))
            self.degraded += degraded
        routes = [self.routes[k] for k in probs.argmax(axis=1)]
        return CascadePrediction(
            routes=routes, route_probs=probs, labels=list(routes), label_probs=probs, levels=levels
        )

    def reset_counts(self) -> None:
        with self._count_lock:
            self.answered[:] = 0
            self.degraded = 0

    def level_shares(self) -> dict[str, float]:
        """Share of the texts each level answered since load (or :meth:`reset_counts`), by level name."""
        counts, _degraded = self.level_counts()
        total = sum(counts.values())
        return {name: (c / total if total else 0.0) for name, c in counts.items()}

    def level_counts(self) -> tuple[dict[str, int], int]:
        """Texts each level answered and texts routed degraded, since load (or :meth:`reset_counts`)."""
        with self._count_lock:
            counts, degraded = self.answered.tolist(), self.degraded
        return dict(zip(self.level_names, counts, strict=True)), degraded


class CascadePredictor(LevelledPredictor):
    """Runs the levels of a cascade folder in order (see the module docstring)."""

    kind = CASCADE_KIND

    def __init__(
        self,
        path: str | Path,
        info: RouterInfo,
        *,
        device: str = "cpu",
        threads: int | None = None,
        levels: Sequence[Predictor] | None = None,
    ):
        super().__init__(path, info, device=device, threads=threads)
        self.levels_spec = parse_levels(info.raw, str(self.path / "router.json"))
        active = [i for i, lv in enumerate(self.levels_spec) if lv.threshold is not None]
        active.append(len(self.levels_spec) - 1)
        self._active = active
        if levels is None:
            loaded = []
            for i in active:
                lv = self.levels_spec[i]
                folder = lv.resolve(self.path)
                if not folder.exists():
                    raise RouterError(f"{self.path}: cascade level {lv.name!r} not found at {folder}")
                kind = read_router_info(folder)[1].kind
                if kind == CASCADE_KIND:  # checked before loading it: a cascade listing itself would recurse
                    raise RouterError(f"{self.path}: level {lv.name!r} is itself a cascade (not supported)")
                device = "cpu" if kind == "static" else self.device  # a lookup and a mean: CPU only
                predictor = Predictor.load(folder, device=device, threads=self.threads)
                loaded.append(predictor)
        else:
            loaded = list(levels)
            if len(loaded) != len(active):
                raise RouterError(f"{len(loaded)} level predictors for {len(active)} active levels")
        for lv_index, predictor in zip(active, loaded, strict=True):
            if sorted(predictor.routes) != sorted(self.routes):
                raise RouterError(
                    f"{self.path}: level {self.levels_spec[lv_index].name!r} routes {predictor.routes} differ "
                    f"from the cascade's {self.routes}"
                )
        self.level_predictors: list[Predictor] = loaded
        # route column order of each level -> the cascade's route order
        self._columns = [[p.routes.index(r) for r in self.routes] for p in loaded]
        self._thresholds = [self.levels_spec[i].threshold for i in active]
        self._start_counts([self.levels_spec[i].name for i in active])

    @property
    def name(self) -> str:
        return f"{self.path.name} (cascade {' > '.join(self.level_names)})"

    @property
    def thresholds(self) -> list[float | None]:
        return list(self._thresholds)

    # ------------------------------------------------------------------------------------------- predicting
    def _run(self, texts: list[str], batch_size: int, drop: int = 0) -> CascadePrediction:
        n = len(texts)
        probs = np.zeros((n, len(self.routes)), dtype=np.float32)
        levels = np.full(n, -1, dtype=np.int64)
        pending = np.arange(n)
        last = len(self.level_predictors) - 1 - drop  # with drop, an earlier level answers what is left
        for i, predictor in enumerate(self.level_predictors[: last + 1]):
            if len(pending) == 0:
                break
            sub = [texts[j] for j in pending]
            pred = predictor.predict_one(sub[0]) if len(sub) == 1 else predictor.predict(sub, batch_size)
            level_probs = np.asarray(pred.route_probs, dtype=np.float32)[:, self._columns[i]]
            if i == last:
                take = np.ones(len(pending), dtype=bool)
            else:
                take = level_probs.max(axis=1) >= self._thresholds[i]
            probs[pending[take]] = level_probs[take]
            levels[pending[take]] = i
            pending = pending[~take]
        return self._counted(probs, levels, degraded=n if drop else 0)

    def warmup(self, n: int = 3) -> None:
        for predictor in self.level_predictors:
            predictor.warmup(n)
        self.reset_counts()


def level_shares_of(levels: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Share of rows answered by each level, from a :class:`CascadePrediction`'s ``levels``."""
    counts = np.bincount(np.asarray(levels, dtype=np.int64), minlength=len(names))
    total = max(int(counts.sum()), 1)
    return {name: float(c) / total for name, c in zip(names, counts, strict=True)}
