"""Calibration metrics and temperature scaling, as pure numpy/scipy functions.

- :func:`expected_calibration_error`: ECE over ``n_bins`` equal-width bins of the top-class confidence
  (bin ``b`` holds confidences in ``((b-1)/n_bins, b/n_bins]``; confidence 0 falls in the first bin):
  ``sum_b |B_b|/n * |accuracy(B_b) - mean confidence(B_b)|``.
- :func:`ece_noise_floor`: the ECE a perfectly calibrated model would still show on that many rows (labels
  drawn from its own probabilities): on a 77-row split it is several points, so read ECE against it.
- :func:`brier_score`: the multi-class Brier score, ``mean_i sum_k (p_ik - y_ik)^2`` (0 = perfect, 2 = worst).
- :func:`fit_temperature`: the temperature ``T`` minimising the negative log-likelihood of
  ``softmax(logits / T) @ route_matrix`` on labelled rows (a bounded 1-D search over ``log T``).

Route probabilities may be sums of finer label probabilities (``route_matrix``, see docs/ARTEFACTS.md), so the
temperature is fitted on what is finally reported: the route probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llm_router.errors import RouterError

N_BINS = 15
T_MIN, T_MAX = 0.05, 20.0
_EPS = 1e-12


def softmax_t(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` in float64."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _check(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if probs.ndim != 2 or probs.shape[0] != y.shape[0]:
        raise RouterError(f"probabilities of shape {probs.shape} do not match {y.shape[0]} labels")
    if probs.shape[0] == 0:
        raise RouterError("no rows to measure calibration on")
    if y.min() < 0 or y.max() >= probs.shape[1]:
        raise RouterError("label index out of range of the probability columns")
    return probs, y


def reliability_bins(probs: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> dict:
    """Per-bin ``count``, ``confidence`` (mean top-class probability), ``accuracy`` (share where the top class is
    the label) and the bin ``edges``; empty bins have count 0 and ``None`` means."""
    probs, y = _check(probs, y)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    idx = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / count, np.nan)
        mean_acc = np.where(count > 0, acc_sum / count, np.nan)
    return {
        "edges": np.linspace(0.0, 1.0, n_bins + 1).tolist(),
        "count": count.astype(int).tolist(),
        "confidence": [None if np.isnan(v) else float(v) for v in mean_conf],
        "accuracy": [None if np.isnan(v) else float(v) for v in mean_acc],
    }


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> float:
    """ECE on the top-class confidence over ``n_bins`` equal-width bins (see the module docstring)."""
    bins = reliability_bins(probs, y, n_bins)
    count = np.asarray(bins["count"], dtype=np.float64)
    gap = np.abs(np.asarray(bins["accuracy"], dtype=float) - np.asarray(bins["confidence"], dtype=float))
    gap = np.nan_to_num(gap)
    return float((count * gap).sum() / count.sum())


def brier_score(probs: np.ndarray, y: np.ndarray) -> float:
    """Multi-class Brier score: mean over rows of the squared distance to the one-hot label (range 0-2)."""
    probs, y = _check(probs, y)
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(y)), y] = 1.0
    return float(((probs - onehot) ** 2).sum(axis=1).mean())


def negative_log_likelihood(probs: np.ndarray, y: np.ndarray) -> float:
    probs, y = _check(probs, y)
    return float(-np.log(np.clip(probs[np.arange(len(y)), y], _EPS, None)).mean())


def ece_noise_floor(probs: np.ndarray, n_bins: int = N_BINS, n_sim: int = 200, seed: int = 0) -> float:
    """The mean ECE of a *perfectly calibrated* model with these probabilities on this many rows: labels drawn
    from ``probs`` themselves, ``n_sim`` times. On a small split ECE cannot be expected to go below this."""
    probs = np.asarray(probs, dtype=np.float64)
    rng = np.random.default_rng(seed)
    cum = probs.cumsum(axis=1)
    cum[:, -1] = 1.0
    draws = (rng.random((n_sim, len(probs), 1)) > cum[None]).sum(axis=2)
    return float(np.mean([expected_calibration_error(probs, y, n_bins) for y in draws]))


def calibration_summary(probs: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> dict:
    """``{ece, ece_noise_floor, brier, nll, accuracy, n, bins}`` for one set of probabilities."""
    probs, y = _check(probs, y)
    return {
        "ece": expected_calibration_error(probs, y, n_bins),
        "ece_noise_floor": ece_noise_floor(probs, n_bins),
        "brier": brier_score(probs, y),
        "nll": negative_log_likelihood(probs, y),
        "accuracy": float((probs.argmax(axis=1) == y).mean()),
        "n": int(len(y)),
        "bins": reliability_bins(probs, y, n_bins),
    }


def route_probs(
    logits: np.ndarray, temperature: float, matrix: np.ndarray | None = None, bias: np.ndarray | None = None
) -> np.ndarray:
    """``softmax(logits / T + bias)``, summed into routes by ``matrix`` ([n_labels, n_routes]) when given."""
    logits = np.asarray(logits, dtype=np.float64)
    if bias is not None:
        logits = logits / float(temperature) + np.asarray(bias, dtype=np.float64)
        temperature = 1.0
    p = softmax_t(logits, temperature)
    return p if matrix is None else p @ np.asarray(matrix, dtype=np.float64)


def fit_temperature(
    logits: np.ndarray,
    y: np.ndarray,
    matrix: np.ndarray | None = None,
    bounds: Sequence[float] = (T_MIN, T_MAX),
) -> float:
    """The temperature minimising the NLL of ``route_probs(logits, T, matrix)`` for route indices ``y``."""
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if logits.ndim != 2 or len(logits) != len(y) or len(y) == 0:
        raise RouterError(f"cannot fit a temperature on logits {logits.shape} and {len(y)} labels")
    lo, hi = float(bounds[0]), float(bounds[1])
    if not 0 < lo < hi:
        raise RouterError(f"temperature bounds must satisfy 0 < low < high (got {lo}, {hi})")

    def nll(log_t: float) -> float:
        return negative_log_likelihood(route_probs(logits, float(np.exp(log_t)), matrix), y)

    res = minimize_scalar(nll, bounds=(np.log(lo), np.log(hi)), method="bounded", options={"xatol": 1e-4})
    best = float(np.exp(res.x))
    # the bounded search never evaluates T = 1 exactly: keep 1 when it is at least as good
    return best if nll(float(res.x)) < nll(0.0) else 1.0


def label_indices(labels: Sequence[str], routes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(y, keep)``: route index of each label and the mask of labels that are one of ``routes``."""
    index = {r: i for i, r in enumerate(routes)}
    y = np.array([index.get(str(label), -1) for label in labels], dtype=np.int64)
    keep = y >= 0
    return y, keep


def fit_temperature_bias(
    logits: np.ndarray, y: np.ndarray, matrix: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """``(T, bias)`` minimising the NLL of ``softmax(logits / T + bias)`` (bias per label, the first fixed at 0):
    temperature scaling plus a prior correction, for models trained with class weights or over-sampling, whose
    probabilities lean towards the minority routes (one temperature cannot undo that)."""
    from scipy.optimize import minimize

    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if logits.ndim != 2 or len(logits) != len(y) or len(y) == 0:
        raise RouterError(f"cannot fit a temperature on logits {logits.shape} and {len(y)} labels")
    k = logits.shape[1]

    def unpack(x):
        return float(np.exp(np.clip(x[0], np.log(T_MIN), np.log(T_MAX)))), np.concatenate([[0.0], x[1:]])

    def nll(x) -> float:
        t, b = unpack(x)
        return negative_log_likelihood(route_probs(logits, t, matrix, b), y)

    start = np.concatenate([[np.log(fit_temperature(logits, y, matrix))], np.zeros(k - 1)])
    res = minimize(
        nll, start, method="L-BFGS-B", bounds=[(np.log(T_MIN), np.log(T_MAX))] + [(-10, 10)] * (k - 1)
    )
    best = res.x if res.fun < nll(start) else start
    t, b = unpack(best)
    return t, b
