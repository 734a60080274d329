"""Leak-free splits: deduplicate first, then stratify (optionally by group), deterministically for a seed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedGroupKFold, train_test_split

from llm_router.errors import RouterError
from llm_router.utils.hashing import normalise_text, text_hash


@dataclass
class DedupReport:
    rows_before: int
    rows_after: int
    dropped_rows: int
    conflicting_texts: int  # distinct texts that appeared with more than one label
    conflicts: list[dict] = field(default_factory=list)  # a few examples: {"text", "labels", "kept"}

    def as_dict(self) -> dict:
        return {
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
            "dropped_rows": self.dropped_rows,
            "conflicting_texts": self.conflicting_texts,
            "conflicts": self.conflicts,
        }


@dataclass
class DataSplit:
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    dedup_report: DedupReport
    seed: int = 42

    def hashes(self) -> dict[str, list[str]]:
        """Text hashes per part: what a model folder's ``split.json`` records."""
        return {
            name: [text_hash(t) for t in part["text"]]
            for name, part in (("train", self.train), ("val", self.val), ("test", self.test))
        }


def dedup(df: pd.DataFrame) -> tuple[pd.DataFrame, DedupReport]:
    """Keep one row per normalised text. A text seen with different labels keeps its most frequent label
    (ties: the first seen) and is counted as a conflict."""
    keys = df["text"].map(normalise_text)
    keep_rows, conflicts = [], []
    for _key, idx in keys.groupby(keys, sort=False).groups.items():
        idx = list(idx)
        labels = df.loc[idx, "label"].tolist()
        counts = Counter(labels)
        if len(counts) > 1:
            best = max(counts.values())
            kept = next(lab for lab in labels if counts[lab] == best)
            keep = next(i for i in idx if df.at[i, "label"] == kept)
            conflicts.append({"text": df.at[idx[0], "text"], "labels": dict(counts), "kept": kept})
        else:
            keep = idx[0]
        keep_rows.append(keep)
    out = df.loc[sorted(keep_rows)].reset_index(drop=True)
    out.attrs.update(df.attrs)
    report = DedupReport(len(df), len(out), len(df) - len(out), len(conflicts), conflicts[:20])
    return out, report


def _stratify_ok(labels: pd.Series, n_parts: int) -> bool:
    return labels.value_counts().min() >= n_parts


def split_dataset(
    df: pd.DataFrame,
    test_size: float = 0.2,
    val_size: float = 0.1,
    seed: int = 42,
    group_col: str | None = None,
    dedup_first: bool = True,
) -> DataSplit:
    """Split into train / validation / test.

    Duplicates are removed first (so no query sits on both sides); splits are stratified by label; with
    ``group_col`` all rows of a group land in the same part. ``val_size`` may be 0 (no validation part)."""
    if not 0 < test_size < 1 or not 0 <= val_size < 1 or test_size + val_size >= 1:
        raise RouterError(f"bad split sizes: test_size={test_size}, val_size={val_size}")
    if group_col and group_col not in df.columns:
        raise RouterError(f"no group column '{group_col}' (columns: {', '.join(df.columns)})")
    if dedup_first:
        df, report = dedup(df)
    else:
        report = DedupReport(len(df), len(df), 0, 0)
    if len(df) < 10:
        raise RouterError(f"only {len(df)} distinct rows: too few to split into train/validation/test")

    def cut(part: pd.DataFrame, size: float, salt: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        if group_col:
            n_splits = max(2, round(1 / size))
            groups = part[group_col].fillna("").astype(str)
            sgkf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed + salt)
            rest_idx, held_idx = next(sgkf.split(part, part["label"], groups))
            return part.iloc[rest_idx], part.iloc[held_idx]
        strat = part["label"] if _stratify_ok(part["label"], 2) else None
        rest, held = train_test_split(part, test_size=size, random_state=seed + salt, stratify=strat)
        return rest, held

    rest, test = cut(df, test_size, 0)
    if val_size > 0:
        train, val = cut(rest, val_size / (1 - test_size), 1)
    else:
        train, val = rest, rest.iloc[0:0]
    parts = [p.reset_index(drop=True) for p in (train, val, test)]
    for p in parts:
        p.attrs.update(df.attrs)
    return DataSplit(*parts, dedup_report=report, seed=seed)


def kfold_splits(
    df: pd.DataFrame, folds: int = 5, repeats: int = 1, seed: int = 42, group_col: str | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Repeated stratified k-fold (group-aware with ``group_col``) over positional indices of ``df``.
    Deduplicate ``df`` first (:func:`dedup`), or duplicates leak across folds."""
    if folds < 2:
        raise RouterError(f"--folds must be at least 2 (got {folds})")
    if repeats < 1:
        raise RouterError(f"--repeats must be at least 1 (got {repeats})")
    smallest = int(df["label"].value_counts().min())
    if smallest < folds:
        raise RouterError(f"the smallest class has {smallest} rows: too few for {folds}-fold stratified CV")
    y = df["label"].to_numpy()
    if group_col:
        groups = df[group_col].fillna("").astype(str).to_numpy()
        out = []
        for r in range(repeats):
            sgkf = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed + r)
            out.extend(sgkf.split(np.zeros(len(y)), y, groups))
        return [(np.asarray(a), np.asarray(b)) for a, b in out]
    rskf = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return [(np.asarray(a), np.asarray(b)) for a, b in rskf.split(np.zeros(len(y)), y)]
