"""Classification metrics for routers: accuracy, macro / weighted F1, per-class scores, the confusion matrix, a
bootstrap interval for macro F1 and the most confident misroutes. Every number comes from scikit-learn; only the
bootstrap is vectorised by hand (and tested against scikit-learn)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from llm_router.errors import RouterError


def _encode(values: Sequence[str], labels: list[str], what: str) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({str(v) for v in values if v not in index})
    if unknown:
        raise RouterError(f"{what} label(s) {', '.join(map(repr, unknown[:5]))} not among {labels}")
    return np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))


def bootstrap_macro_f1(
    y_true: np.ndarray, y_pred: np.ndarray, n_labels: int, n_boot: int = 1000, seed: int = 0
) -> np.ndarray:
    """Macro F1 (zero_division=0, over all ``n_labels`` classes) of ``n_boot`` bootstrap resamples of the rows.

    ``y_true`` / ``y_pred`` are integer class ids. Vectorised: one resample is one row of an index matrix."""
    n = len(y_true)
    if n == 0 or n_boot <= 0:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    scores = np.empty(n_boot)
    chunk = max(1, 2_000_000 // max(n, 1))  # bound the [chunk, n] index matrix to ~16 MB
    classes = np.arange(n_labels)[:, None, None]
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        t, p = y_true[idx][None], y_pred[idx][None]  # [1, b, n]
        tp = ((t == classes) & (p == classes)).sum(-1)  # [k, b]
        fp = ((t != classes) & (p == classes)).sum(-1)
        fn = ((t == classes) & (p != classes)).sum(-1)
        denom = 2 * tp + fp + fn
        f1 = np.divide(2 * tp, denom, out=np.zeros(denom.shape, dtype=float), where=denom > 0)
        scores[start : start + idx.shape[0]] = f1.mean(0)
    return scores


def f1_change_interval(
    truths: Sequence[str],
    before: Sequence[str],
    after: Sequence[str],
    routes: Sequence[str],
    n_boot: int,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, tuple[float, float]]:
    """Macro-F1 change from the routes ``before`` to the routes ``after`` (points; e.g. float -> quantised, or
    one candidate -> another) and its paired bootstrap interval: both are scored on the same resamples (the same
    seed draws the same rows), so the interval is that of the difference."""
    index = {r: i for i, r in enumerate(routes)}
    for r in [*truths, *before, *after]:
        if r not in index:
            index[r] = len(index)
    if len(truths) == 0:  # no labelled rows: no F1 evidence either way
        return 0.0, (0.0, 0.0)

    def macro_f1(predictions: Sequence[str]) -> float:  # points, over every class seen (scikit-learn)
        return 100.0 * float(f1_score(list(truths), list(predictions), average="macro", zero_division=0))

    point = macro_f1(after) - macro_f1(before)
    if n_boot <= 0:
        return point, (point, point)
    t, b, a = (np.array([index[r] for r in rs]) for rs in (truths, before, after))
    diff = bootstrap_macro_f1(t, a, len(index), n_boot, seed) - bootstrap_macro_f1(
        t, b, len(index), n_boot, seed
    )
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(diff, [alpha, 1 - alpha])
    return point, (100 * float(lo), 100 * float(hi))


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / n`` (95% by default); ``(0, 1)`` when ``n`` is 0."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def agreement(routes: Sequence[str], reference: Sequence[str]) -> dict[str, Any]:
    """The share of ``routes`` equal to ``reference`` (same order and length) with its Wilson 95% interval:
    ``{"value", "ci95": [lo, hi]}``."""
    n = sum(a == b for a, b in zip(routes, reference, strict=True))
    lo, hi = wilson_interval(n, len(routes))
    return {"value": n / len(routes) if routes else 1.0, "ci95": [lo, hi]}


def classification_report(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    labels: Sequence[str],
    probs: np.ndarray | None = None,
    texts: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    n_misroutes: int = 10,
) -> dict:
    """Everything `router eval` reports, as a JSON-ready dict.

    ``labels`` fixes the class order of ``per_class``, the confusion matrix (rows = true, columns = predicted) and
    of ``probs`` ([n, len(labels)], optional: used to rank ``misroutes`` by confidence). Keys: ``accuracy``,
    ``macro_f1``, ``weighted_f1``, ``macro_f1_ci95`` ([lo, hi], bootstrap percentile interval), ``per_class``
    ({label: {precision, recall, f1, support}}), ``confusion_matrix``, ``labels``, ``n`` and ``misroutes`` (the most
    confident wrong predictions: {text, true, pred, confidence})."""
    labels = [str(x) for x in labels]
    y_true = [str(x) for x in y_true]
    y_pred = [str(x) for x in y_pred]
    if len(y_true) != len(y_pred):
        raise RouterError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if not y_true:
        raise RouterError("no rows to evaluate")
    t = _encode(y_true, labels, "true")
    p = _encode(y_pred, labels, "predicted")
    ids = list(range(len(labels)))
    prec, rec, f1, support = precision_recall_fscore_support(t, p, labels=ids, zero_division=0)
    boot = bootstrap_macro_f1(t, p, len(labels), n_boot=n_boot, seed=seed)
    ci = [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))] if len(boot) else [None, None]

    confidence = None
    if probs is not None:
        probs = np.asarray(probs, dtype=float)
        if probs.shape != (len(y_true), len(labels)):
            raise RouterError(f"probs has shape {probs.shape}, expected {(len(y_true), len(labels))}")
        confidence = probs[np.arange(len(p)), p]
    wrong = np.flatnonzero(t != p)
    if confidence is not None:
        wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]
    misroutes = [
        {
            "text": None if texts is None else str(texts[i]),
            "true": y_true[i],
            "pred": y_pred[i],
            "confidence": None if confidence is None else round(float(confidence[i]), 4),
        }
        for i in wrong[:n_misroutes]
    ]
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(t, p)),
        "macro_f1": float(f1_score(t, p, labels=ids, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(t, p, labels=ids, average="weighted", zero_division=0)),
        "macro_f1_ci95": ci,
        "per_class": {
            label: {
                "precision": float(prec[i]),
                "recall": float(rec[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": confusion_matrix(t, p, labels=ids).tolist(),
        "labels": labels,
        "misroutes": misroutes,
    }
