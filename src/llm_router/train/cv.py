"""`router cv`: k-fold (optionally repeated) cross-validation of one :class:`TrainConfig`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from llm_router.train.config import TrainConfig
from llm_router.train.fit import fit
from llm_router.train.targets import prepare_targets
from llm_router.utils.progress import Bar, make_progress
from llm_router.utils.seeding import set_threads


def _inner_val_split(train_df: pd.DataFrame, config: TrainConfig, fold_seed: int):
    """A validation part carved out of a CV fold's training part, when the config uses one."""
    from sklearn.model_selection import train_test_split

    wants_val = config.val_size > 0 and (config.select_best_epoch or config.early_stopping_patience > 0)
    if not wants_val:
        return train_df, None
    frac = config.val_size / (1 - config.test_size)
    if config.group_col:
        from llm_router.data import split_dataset

        # the fold's training part is already deduplicated; a grouped cut keeps each group on one side
        inner = split_dataset(
            train_df,
            test_size=frac,
            val_size=0,
            seed=fold_seed,
            group_col=config.group_col,
            dedup_first=False,
        )
        return inner.train, inner.test
    counts = train_df["label"].value_counts()
    strat = train_df["label"] if counts.min() >= 2 else None
    tr, va = train_test_split(train_df, test_size=frac, random_state=fold_seed, stratify=strat)
    return tr.reset_index(drop=True), va.reset_index(drop=True)


def cross_validate(
    df: pd.DataFrame,
    config: TrainConfig | None = None,
    folds: int = 5,
    repeats: int = 1,
    *,
    dedup_first: bool = True,
    progress: bool = True,
    fold_callback=None,
    only_folds: Sequence[int] | None = None,
) -> dict:
    """k-fold CV (stratified, repeated ``repeats`` times with different shuffles) of one configuration.

    Returns ``macro_f1_mean``/``_std``, ``accuracy_mean``/``_std``, ``weighted_f1_mean``/``_std``, the pooled
    out-of-fold metrics of the first repeat (``oof``), per-fold rows and the config. ``dedup_first=False``
    reproduces the leak of splitting a file with duplicate rows (for the ablation only).
    ``fold_callback(fold_index, fold_row)`` is called after each fold (used by `router tune` to prune).
    ``only_folds``: run just these fold indices (of ``folds * repeats``), e.g. to resume or spread a CV; the
    means are then over those folds and ``oof`` is None unless every fold of the first repeat ran."""
    from llm_router.data import dedup, kfold_splits

    config = config or TrainConfig()
    start, cpu_start = time.perf_counter(), time.process_time()
    dropped = 0
    if dedup_first:
        df, report = dedup(df)
        dropped = report.dropped_rows
    df, targets = prepare_targets(df.reset_index(drop=True), config)
    splits = kfold_splits(df, folds=folds, repeats=repeats, seed=config.seed, group_col=config.group_col)
    rows, oof_pred = [], [None] * len(df)
    oof_probs = np.zeros((len(df), len(targets.routes)))
    with make_progress(progress) as prog:
        selected = [k for k in range(len(splits)) if only_folds is None or k in set(only_folds)]
        fold_bar = Bar(prog, "cross-validation", len(selected))
        for k in selected:
            tr_idx, te_idx = splits[k]
            row, pred, probs = _run_fold(df, tr_idx, te_idx, k, folds, config, targets, prog)
            rows.append(row)
            if k < folds:
                for j, i in enumerate(te_idx):
                    oof_pred[i] = pred[j]
                oof_probs[te_idx] = probs
            fold_bar.advance(info=f"fold {k + 1}: macro F1 {row['macro_f1']:.3f}")
            if fold_callback is not None:
                fold_callback(k, row)
    result: dict[str, Any] = {"folds": folds, "repeats": repeats, "n": len(df), "duplicates_dropped": dropped}
    for key in ("macro_f1", "accuracy", "weighted_f1"):
        values = np.array([r[key] for r in rows])
        result[f"{key}_mean"] = float(values.mean())
        result[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    result["oof"] = None
    if all(p is not None for p in oof_pred):  # every fold of the first repeat ran: pooled out-of-fold metrics
        result["oof"] = _pooled_oof(df, oof_pred, oof_probs, targets, config)
    result.update(
        {
            "per_fold": rows,
            "labels": targets.routes,
            "route_map": targets.route_map,
            "train_label_col": targets.label_col,
            "seconds": round(time.perf_counter() - start, 1),
            # CPU time of this process: unlike wall time, it does not grow when other work shares the cores
            "cpu_seconds": round(time.process_time() - cpu_start, 1),
            "threads": set_threads(config.threads),
            "config": config.to_dict(),
        }
    )
    return result


def _run_fold(df, tr_idx, te_idx, k: int, folds: int, config: TrainConfig, targets, prog):
    """Fit on fold ``k``'s training part (minus an inner validation part when the config uses one), score its
    test part; returns (fold row, predicted routes, route probabilities)."""
    from llm_router.eval.metrics import classification_report

    fold_start, fold_cpu = time.perf_counter(), time.process_time()
    tr_df, te_df = df.iloc[tr_idx].reset_index(drop=True), df.iloc[te_idx].reset_index(drop=True)
    tr_df, va_df = _inner_val_split(tr_df, config, config.seed + k)
    exclude = list(te_df["text"]) + ([] if va_df is None else list(va_df["text"]))
    fitted = fit(
        tr_df,
        va_df,
        config,
        targets,
        exclude_texts=exclude,
        progress=prog,
        started_at=fold_start,
        predict_after=len(te_df),
    )
    pred, probs = fitted.predict_routes(te_df["text"].tolist(), config.eval_batch_size)
    rep = classification_report(te_df["label"].tolist(), pred, targets.routes, n_boot=0)
    row = {
        "fold": k,
        "repeat": k // folds,
        "macro_f1": rep["macro_f1"],
        "accuracy": rep["accuracy"],
        "weighted_f1": rep["weighted_f1"],
        "n_test": len(te_df),
        "best_epoch": fitted.best_epoch,
        "seconds": round(fitted.seconds, 1),
        "cpu_seconds": round(time.process_time() - fold_cpu, 1),
    }
    return row, pred, probs


def _pooled_oof(df, oof_pred, oof_probs, targets, config: TrainConfig) -> dict:
    """Metrics of the first repeat's out-of-fold predictions pooled over every row."""
    from llm_router.eval.metrics import classification_report

    oof = classification_report(
        df["label"].tolist(),
        oof_pred,
        targets.routes,
        probs=oof_probs,
        texts=df["text"].tolist(),
        seed=config.seed,
    )
    keep = ("macro_f1", "macro_f1_ci95", "accuracy", "weighted_f1", "per_class", "confusion_matrix", "labels")
    return {k: oof[k] for k in keep}


def print_cv_result(result: dict, console, title: str = "cross-validation") -> None:
    from rich.table import Table

    table = Table(
        "fold",
        "macro F1",
        "accuracy",
        "weighted F1",
        "best epoch",
        "seconds",
        title=f"{title}: {result['folds']} folds x {result['repeats']} repeat(s), {result['n']} rows",
    )
    for r in result["per_fold"]:
        table.add_row(
            str(r["fold"] + 1),
            f"{r['macro_f1']:.3f}",
            f"{r['accuracy']:.3f}",
            f"{r['weighted_f1']:.3f}",
            str(r["best_epoch"]),
            f"{r['seconds']:.0f}",
        )
    table.add_row(
        "mean +/- std",
        f"{result['macro_f1_mean']:.3f} +/- {result['macro_f1_std']:.3f}",
        f"{result['accuracy_mean']:.3f} +/- {result['accuracy_std']:.3f}",
        f"{result['weighted_f1_mean']:.3f} +/- {result['weighted_f1_std']:.3f}",
        "",
        f"{result['seconds']:.0f}",
        style="bold",
    )
    console.print(table)
