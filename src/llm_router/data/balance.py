"""Class imbalance: loss weights per class and random over-sampling of minority classes.

Both are meant for the training split only; the validation and test splits keep their real distribution."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from llm_router.errors import RouterError

CLASS_WEIGHT_MODES = ("none", "balanced", "sqrt")


def class_weights(labels: Sequence[str], classes: Sequence[str], mode: str = "balanced") -> np.ndarray | None:
    """Loss weight per class of ``classes`` (in that order) from the training ``labels``.

    ``balanced``: ``n / (k * count_c)`` (scikit-learn's ``compute_class_weight("balanced")``), so every class
    contributes the same total weight. ``sqrt``: the square root of that, a milder correction, rescaled so the
    average weight per training example stays 1. ``none``: ``None`` (plain loss). A class absent from ``labels``
    gets weight 1."""
    if mode not in CLASS_WEIGHT_MODES:
        raise RouterError(f"unknown class weighting {mode!r} (choose from {', '.join(CLASS_WEIGHT_MODES)})")
    if mode == "none":
        return None
    counts = pd.Series(list(labels)).value_counts()
    count = np.array([counts.get(c, 0) for c in classes], dtype=float)
    present = count > 0
    n, k = count.sum(), present.sum()
    weights = np.ones(len(classes))
    weights[present] = n / (k * count[present])
    if mode == "sqrt":
        weights[present] = np.sqrt(weights[present])
        weights[present] *= n / (count[present] * weights[present]).sum()
    return weights


def oversample(df: pd.DataFrame, ratio: float = 1.0, label_col: str = "label", seed: int = 0) -> pd.DataFrame:
    """Randomly repeat rows of minority classes until each has at least ``ratio`` x the majority class's count.

    ``ratio`` in (0, 1]; 0 (or less) returns ``df`` unchanged. Original rows are all kept; added rows are copies
    spread evenly over a class's rows (each row repeated ``m`` or ``m + 1`` times, the extra ones drawn at random,
    deterministically for a ``seed``) and flagged ``oversampled=True`` in a new column."""
    if ratio is None or ratio <= 0:
        return df
    if ratio > 1:
        raise RouterError(f"oversample ratio must be in (0, 1], got {ratio}")
    rng = np.random.default_rng(seed)
    counts = df[label_col].value_counts()
    target = int(np.ceil(ratio * counts.max()))
    parts = [df.assign(oversampled=False)]
    for label in sorted(counts.index):
        missing = target - int(counts[label])
        if missing <= 0:
            continue
        rows = np.flatnonzero((df[label_col] == label).to_numpy())
        full, rest = divmod(missing, len(rows))
        picks = np.concatenate([np.tile(rows, full), rng.choice(rows, size=rest, replace=False)])
        parts.append(df.iloc[picks].assign(oversampled=True))
    out = pd.concat(parts, ignore_index=True)
    out.attrs.update(df.attrs)
    return out
