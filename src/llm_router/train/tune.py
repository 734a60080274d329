"""`router tune`: search training options with Optuna on cross-validated (or validation) macro F1.

Every trial is a full :class:`~llm_router.train.config.TrainConfig`; the best one is written as JSON so that
``router train --config best.json`` (or ``router cv --config best.json``) reproduces it. With CV, every trial uses the
same folds (the base config's seed) and a trial whose running mean after a fold falls below the median of earlier
trials at that fold is pruned (Optuna's median pruner), which is where most of the time saving comes from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from llm_router.errors import RouterError
from llm_router.train.config import TrainConfig

AUGMENT_CHOICES = ("", "typo:1", "typo:1,spacing:1", "typo:1,spacing:1,swap:1,punct:1")


def default_space(trial, df: pd.DataFrame, base: TrainConfig) -> dict[str, Any]:
    """The searched options: learning rate, batch size, epochs, dropout, weighting, over-sampling, augmentation,
    how many top layers to train, the head's learning rate and warm-up, and (when the data has the columns) the
    training label."""
    params: dict[str, Any] = {
        "learning_rate": trial.suggest_float("learning_rate", 2e-5, 3e-4, log=True),
        "batch_size": trial.suggest_categorical("batch_size", [8, 16, 32]),
        "epochs": trial.suggest_int("epochs", 4, 16),
        "dropout": trial.suggest_categorical("dropout", [None, 0.0, 0.1, 0.2]),
        "class_weights": trial.suggest_categorical("class_weights", ["auto", "none", "balanced", "sqrt"]),
        "oversample": trial.suggest_categorical("oversample", [0.0, 0.5, 1.0]),
        "augment": trial.suggest_categorical("augment", list(AUGMENT_CHOICES)),
        "trainable_layers": trial.suggest_categorical("trainable_layers", [2, 4, 6, 12]),
        "head_learning_rate": trial.suggest_categorical("head_learning_rate", [None, 1e-3]),
        "head_warmup_epochs": trial.suggest_categorical("head_warmup_epochs", [0, 5]),
    }
    label_cols = ["label"] + [c for c in ("category", "intent") if c in df.columns]
    if len(label_cols) > 1:
        col = trial.suggest_categorical("train_label_col", label_cols)
        params["train_label_col"] = col
        params["route_map"] = None if col == "label" else "auto"
    return params


def _base_values(
    df: pd.DataFrame, base: TrainConfig, space: Callable[[Any, pd.DataFrame, TrainConfig], dict], fixed
) -> dict[str, Any]:
    """``base``'s values of the options ``space`` searches, where they lie inside the searched range or choices
    (found by running ``space`` on a trial that records each suggestion and answers with ``base``'s value)."""
    values: dict[str, Any] = {}

    class Recorder:
        def suggest_float(self, name, low, high, **_):
            value = getattr(base, name)
            if value is not None and low <= value <= high:
                values[name] = value
            return value

        suggest_int = suggest_float

        def suggest_categorical(self, name, choices):
            value = getattr(base, name)
            if value in choices:
                values[name] = value
            return value

    space(Recorder(), df, base)
    return {k: v for k, v in values.items() if k not in fixed}


@dataclass
class TuneResult:
    best_value: float
    best_params: dict[str, Any]
    config: TrainConfig
    trials: list[dict[str, Any]] = field(default_factory=list)
    objective: str = "cv"
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "best_value": self.best_value,
            "best_params": self.best_params,
            "objective": self.objective,
            "seconds": round(self.seconds, 1),
            "config": self.config.to_dict(),
            "trials": self.trials,
        }


def tune(
    df: pd.DataFrame,
    base: TrainConfig | None = None,
    trials: int = 20,
    folds: int = 3,
    *,
    seed: int = 0,
    timeout: float | None = None,
    space: Callable[[Any, pd.DataFrame, TrainConfig], dict[str, Any]] = default_space,
    progress: bool = True,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
    fixed: Sequence[str] = (),
    start_from_base: bool = True,
) -> TuneResult:
    """Search ``trials`` configurations around ``base``: options named in ``fixed`` (e.g. given on the command
    line) keep ``base``'s value, every other option of the search space is searched.

    With ``start_from_base`` the first trial is ``base`` itself (its values of the searched options), so the
    search is measured against the configuration it starts from and never returns one that scored worse.

    ``folds >= 2``: the objective is the mean macro F1 of ``folds``-fold CV (pruned fold by fold); ``folds=0``:
    the validation macro F1 of one train/validation split (faster, noisier)."""
    import optuna

    if trials < 1:
        raise RouterError(f"--trials must be >= 1 (got {trials})")
    if folds == 1 or folds < 0:
        raise RouterError(f"--folds must be 0 (validation split) or >= 2 (got {folds})")
    base = base or TrainConfig()
    start = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(5, trials)),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
    )
    rows: list[dict[str, Any]] = []
    if start_from_base:
        study.enqueue_trial(_base_values(df, base, space, fixed))

    def record(row: dict[str, Any]) -> None:
        rows.append(row)
        if on_trial:
            on_trial(row)

    def objective(trial) -> float:
        params = {k: v for k, v in space(trial, df, base).items() if k not in fixed}
        if "train_label_col" in fixed:
            params.pop("route_map", None)
        config = TrainConfig.from_dict(base.to_dict() | params)
        t0 = time.perf_counter()
        if folds >= 2:
            value, std = _cv_objective(trial, df, config, folds, progress, params, record)
        else:
            value, std = _val_objective(df, config), None
        record(
            {
                "trial": trial.number,
                "state": "complete",
                "macro_f1": value,
                "macro_f1_std": std,
                "folds_run": folds,
                "seconds": round(time.perf_counter() - t0, 1),
                **params,
            }
        )
        return value

    study.optimize(objective, n_trials=trials, timeout=timeout, catch=(RuntimeError,))
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not completed:
        raise RouterError("no tuning trial completed (all were pruned or failed)")
    best = study.best_trial
    best_params, config = _best_config(base, rows, best, folds, trials)
    return TuneResult(
        best.value, best_params, config, rows, "cv" if folds >= 2 else "val", time.perf_counter() - start
    )


def _cv_objective(trial, df: pd.DataFrame, config: TrainConfig, folds: int, progress, params, record):
    """Mean and std of ``folds``-fold CV macro F1, reported fold by fold so that Optuna can prune the trial (a
    pruned trial is recorded with the folds it ran)."""
    import optuna

    from llm_router.train.cv import cross_validate

    t0 = time.perf_counter()
    scores: list[float] = []

    def report(k: int, fold_row: dict) -> None:
        scores.append(fold_row["macro_f1"])
        trial.report(float(np.mean(scores)), k)
        if trial.should_prune():
            raise optuna.TrialPruned()

    try:
        result = cross_validate(df, config, folds=folds, progress=progress, fold_callback=report)
    except optuna.TrialPruned:
        record(
            {
                "trial": trial.number,
                "state": "pruned",
                "macro_f1": float(np.mean(scores)),
                "folds_run": len(scores),
                "seconds": round(time.perf_counter() - t0, 1),
                **params,
            }
        )
        raise
    return result["macro_f1_mean"], result["macro_f1_std"]


def _val_objective(df: pd.DataFrame, config: TrainConfig) -> float:
    """The best validation macro F1 of one train/validation split."""
    from llm_router.data import split_dataset
    from llm_router.train.fit import fit
    from llm_router.train.targets import prepare_targets

    frame, targets = prepare_targets(df, config)
    split = split_dataset(
        frame,
        test_size=config.test_size,
        val_size=max(config.val_size, 0.1),
        seed=config.seed,
        group_col=config.group_col,
    )
    fitted = fit(
        split.train,
        split.val,
        config,
        targets,
        exclude_texts=list(split.val["text"]) + list(split.test["text"]),
    )
    return max(h["val_macro_f1"] for h in fitted.history if h.get("val_macro_f1") is not None)


def _best_config(base: TrainConfig, rows: list[dict], best, folds: int, trials: int):
    """The best trial's searched values and the full config they make (noting the search in ``extra``)."""
    best_params = next(r for r in rows if r["trial"] == best.number)
    best_params = {
        k: v
        for k, v in best_params.items()
        if k not in ("trial", "state", "macro_f1", "macro_f1_std", "folds_run", "seconds")
    }
    config = TrainConfig.from_dict(base.to_dict() | best_params)
    config.extra = {
        **config.extra,
        "tuned": {
            "objective": "cv" if folds >= 2 else "val",
            "folds": folds,
            "trials": trials,
            "best_macro_f1": best.value,
        },
    }
    return best_params, config


def print_trials(result: TuneResult, console) -> None:
    from rich.table import Table

    keys = (
        [
            k
            for k in result.trials[0]
            if k not in ("trial", "state", "macro_f1", "macro_f1_std", "folds_run", "seconds", "route_map")
        ]
        if result.trials
        else []
    )
    table = Table(title=f"router tune ({result.objective} macro F1)")
    for header in ("trial", "state", "macro F1", *(_HEADERS.get(k, k) for k in keys), "s"):
        # the augment spec is the one long value: folded over lines; every other column keeps its width
        wide = header == "augment"
        table.add_column(header, no_wrap=not wide, overflow="fold" if wide else "ellipsis")
    for r in sorted(result.trials, key=lambda r: -(r["macro_f1"] or 0)):
        f1 = f"{r['macro_f1']:.3f}" + (f" +/- {r['macro_f1_std']:.3f}" if r.get("macro_f1_std") else "")
        style = (
            "bold green"
            if r["trial"]
            == next(
                (
                    t["trial"]
                    for t in result.trials
                    if t["macro_f1"] == result.best_value and t["state"] == "complete"
                ),
                None,
            )
            else None
        )
        table.add_row(
            str(r["trial"]),
            r["state"],
            f1,
            *[_short(r.get(k)) for k in keys],
            f"{r['seconds']:.0f}",
            style=style,
        )
    console.print(table)


_HEADERS = {
    "learning_rate": "lr",
    "batch_size": "batch",
    "class_weights": "weights",
    "trainable_layers": "layers",
    "head_learning_rate": "head lr",
    "head_warmup_epochs": "LP-FT epochs",
    "train_label_col": "label",
}


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.2e}" if 0 < abs(value) < 1e-2 else f"{value:g}"
    return "-" if value in (None, "") else str(value)
