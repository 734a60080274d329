"""PNG figures (matplotlib, Agg backend: no display needed): confusion matrix and training curves."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _finish(plt, fig, ax, path: str | os.PathLike[str], title: str, fontsize: float | None = None) -> Path:
    """Title, tight layout, save as PNG (creating the folder), close."""
    if title:
        ax.set_title(title, fontsize=fontsize)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def confusion_matrix_png(
    matrix: Sequence[Sequence[int]], labels: Sequence[str], path: str | os.PathLike[str], title: str = ""
) -> Path:
    """Confusion matrix heat-map (rows = true, columns = predicted), counts and row-normalised share per cell."""
    plt = _pyplot()
    cm = np.asarray(matrix, dtype=float)
    row_sums = cm.sum(1, keepdims=True)
    share = np.divide(cm, row_sums, out=np.zeros_like(cm), where=row_sums > 0)
    size = max(3.5, 0.9 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}\n{share[i, j]:.0%}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if share[i, j] > 0.6 else "black",
            )
    return _finish(plt, fig, ax, path, title)


def training_curves_png(history: Sequence[dict], path: str | os.PathLike[str], title: str = "") -> Path:
    """Per-epoch train loss (left axis) and validation macro F1 (right axis) from ``history.json`` rows."""
    plt = _pyplot()
    history = [h for h in history if h.get("train_loss") is not None or h.get("val_macro_f1") is not None]
    members = sorted({h.get("member") for h in history if isinstance(h.get("member"), int)}) or [None]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax2 = None
    for member in members:  # one line per soup member (one line when there is no soup)
        rows = [h for h in history if h.get("member") == member and isinstance(h.get("epoch"), int)]
        suffix = "" if member is None else f" (member {member})"
        epochs = [h["epoch"] for h in rows]
        loss = [np.nan if h.get("train_loss") is None else h["train_loss"] for h in rows]
        alpha = 1.0 if member in (None, 0) else 0.5  # later soup members fainter
        ax.plot(epochs, loss, "o-", color="tab:blue", alpha=alpha, label="train loss" + suffix)
        val = [np.nan if h.get("val_macro_f1") is None else h["val_macro_f1"] for h in rows]
        if not all(np.isnan(val)):
            ax2 = ax2 or ax.twinx()
            ax2.plot(epochs, val, "s-", color="tab:orange", alpha=alpha, label="val macro F1" + suffix)
    ax.set_xlabel("epoch")
    ax.set_ylabel("train loss", color="tab:blue")
    if ax2 is not None:
        ax2.set_ylabel("validation macro F1", color="tab:orange")
        ax2.set_ylim(0, 1)
    return _finish(plt, fig, ax, path, title)


def reliability_png(before: dict, after: dict | None, path: str | os.PathLike[str], title: str = "") -> Path:
    """Reliability diagram: accuracy against mean confidence per bin (``eval.calibration.reliability_bins``
    output, with ``ece``), before and (when given) after calibration, and the diagonal of perfect calibration."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    for summary, name, style in ((before, "before", "o-"), (after, "after", "s-")):
        if summary is None:
            continue
        bins = summary["bins"]
        conf = np.asarray(bins["confidence"], dtype=float)
        acc = np.asarray(bins["accuracy"], dtype=float)
        ok = np.asarray(bins["count"]) > 0
        ax.plot(
            conf[ok], acc[ok], style, label=f"{name}: ECE {summary['ece']:.3f}, Brier {summary['brier']:.3f}"
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top route probability, bin mean)")
    ax.set_ylabel("accuracy in bin")
    ax.legend(loc="upper left", fontsize=8)
    return _finish(plt, fig, ax, path, title, fontsize=9)


def cost_quality_png(result: dict, path: str | os.PathLike[str], title: str = "") -> Path:
    """Cost-quality plane of ``eval.costquality.evaluate_curve`` output: the router's sweep and its
    non-decreasing hull, each single route, the zero router (random mixing of single routes) and the oracle."""
    from llm_router.eval.costquality import nondecreasing_hull

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    rc = [p["cost"] for p in result["curve"]]
    rq = [p["quality"] for p in result["curve"]]
    singles = result["single_routes"]
    sc = [v["cost"] for v in singles.values()]
    sq = [v["quality"] for v in singles.values()]
    right = max(max(sc), max(rc), result["oracle"]["cost"])
    for xs, ys, style, label in (
        (rc, rq, "-", f"router (AIQ {result['aiq']:.3f})"),
        (sc, sq, "--", f"zero router: random mixing (AIQ {result['aiq_zero_router']:.3f})"),
    ):
        hx, hy = nondecreasing_hull(xs, ys)
        ax.plot([*hx, right], [*hy, hy[-1]], style, label=label)
    ax.plot(rc, rq, ".", color="tab:blue", alpha=0.6, label="router sweep points")
    for name, value in singles.items():
        ax.plot(value["cost"], value["quality"], "o", color="black")
        ax.annotate(
            name, (value["cost"], value["quality"]), textcoords="offset points", xytext=(4, -10), fontsize=8
        )
    ax.plot(
        result["oracle"]["cost"], result["oracle"]["quality"], "*", ms=12, color="tab:red", label="oracle"
    )
    ax.set_xlabel("mean cost per query")
    ax.set_ylabel("mean quality")
    ax.legend(loc="lower right", fontsize=8)
    return _finish(plt, fig, ax, path, title, fontsize=9)
