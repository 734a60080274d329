"""Splits: dedup before splitting, stratified, group-aware, deterministic; no text in two parts."""

import numpy as np
import pandas as pd
import pytest

from llm_router.data import dedup, kfold_splits, load_dataset, split_dataset
from llm_router.utils.hashing import normalise_text


def make_df(n=200, dup_every=5, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.array(["a"] * (n // 2) + ["b"] * (n // 3) + ["c"] * (n - n // 2 - n // 3))
    rows = [(f"query {i} {rng.integers(1e6)}", lab) for i, lab in enumerate(labels)]
    rows += [rows[i] for i in range(0, n, dup_every)]  # exact duplicates
    rows += [(" " + rows[1][0] + "  ", rows[1][1])]  # whitespace-variant duplicate
    return pd.DataFrame(rows, columns=["text", "label"]).assign(group=lambda d: d.index % 37)


def parts_texts(split):
    return [set(p["text"].map(normalise_text)) for p in (split.train, split.val, split.test)]


def test_dedup_counts_and_conflicts():
    df = pd.DataFrame({"text": ["x", "x", "x", "y", "y ", "z"], "label": ["a", "b", "a", "c", "c", "a"]})
    out, rep = dedup(df)
    assert rep.rows_before == 6 and rep.rows_after == 3 and rep.dropped_rows == 3
    assert rep.conflicting_texts == 1
    assert dict(zip(out["text"], out["label"], strict=True))["x"] == "a"  # majority label kept


def test_split_has_no_text_in_two_parts_and_is_stratified():
    df = make_df()
    split = split_dataset(df, test_size=0.2, val_size=0.1, seed=7)
    tr, va, te = parts_texts(split)
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert split.dedup_report.dropped_rows == len(df) - df["text"].map(normalise_text).nunique()
    assert len(split.train) + len(split.val) + len(split.test) == split.dedup_report.rows_after
    shares = split.test["label"].value_counts(normalize=True)
    full = split.train["label"].value_counts(normalize=True)
    assert all(abs(shares[k] - full[k]) < 0.08 for k in full.index)


def test_split_is_deterministic_for_a_seed():
    df = make_df()
    a, b, c = (split_dataset(df, seed=s) for s in (3, 3, 4))
    assert a.test["text"].tolist() == b.test["text"].tolist()
    assert a.test["text"].tolist() != c.test["text"].tolist()


def test_group_split_keeps_groups_together():
    df = make_df()
    split = split_dataset(df, seed=1, group_col="group")
    groups = [set(p["group"]) for p in (split.train, split.val, split.test)]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])


@pytest.mark.parametrize("group_col", [None, "group"])
def test_kfold_covers_every_row_once_per_repeat(group_col):
    df, _ = dedup(make_df())
    folds = kfold_splits(df, folds=5, repeats=2, seed=0, group_col=group_col)
    assert len(folds) == 10
    for r in range(2):
        tests = np.concatenate([te for _, te in folds[r * 5 : (r + 1) * 5]])
        assert sorted(tests.tolist()) == list(range(len(df)))
    for tr, te in folds:
        assert not set(tr) & set(te)
        assert not set(df["text"].iloc[tr]) & set(df["text"].iloc[te])


def test_seed_file_split_leaks_nothing(seed_csv):
    df = load_dataset(seed_csv, "user_message", "llm")
    split = split_dataset(df, seed=42)
    tr, va, te = parts_texts(split)
    assert split.dedup_report.rows_after == 383 and split.dedup_report.dropped_rows == 112
    assert not (tr & te) and not (tr & va) and not (va & te)
