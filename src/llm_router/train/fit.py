"""`router train`: fit a sequence classifier (the router "teacher") on any Hugging Face encoder.

- :func:`train` splits the data (deduplicated, stratified, leak-free), fits, evaluates on the held-out test split
  and writes a model folder as described in ``docs/ARTEFACTS.md``.
- :func:`fit` picks the training method of a :class:`TrainConfig`: :func:`llm_router.train.finetune.fit_finetune`
  (the PyTorch loop) or :func:`llm_router.train.setfit.fit_setfit` (contrastive body, then that same loop).
  Cross-validation (:mod:`llm_router.train.cv`) and tuning (:mod:`llm_router.train.tune`) call it per fold / trial.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from llm_router.errors import RouterError
from llm_router.persistence import router_record, write_model_files
from llm_router.train.config import TrainConfig
from llm_router.train.finetune import FitResult, fit_finetune
from llm_router.train.targets import Targets, prepare_targets, resolved_config
from llm_router.utils.progress import make_progress


def fitter(method: str) -> Callable[..., FitResult]:
    """The training function of a ``TrainConfig.method`` (a lazy factory: SetFit's libraries load only when used)."""
    if method == "setfit":
        from llm_router.train.setfit import fit_setfit

        return fit_setfit
    return fit_finetune


def fit(
    train_df: pd.DataFrame, val_df: pd.DataFrame | None, config: TrainConfig, targets: Targets, **options
):
    """Train on ``train_df`` (columns text, label, target) with ``config.method``, validating on ``val_df``;
    ``options``: ``exclude_texts`` (texts augmentation must never produce: the validation and test texts),
    ``progress`` (a rich Progress to report steps to, or None), and for the time budget ``started_at`` (when the
    caller's clock started) and ``predict_after`` (texts the caller predicts after training). Every ``auto`` field of ``config`` is decided from
    ``train_df`` first (:func:`llm_router.train.recipe.resolve_recipe`). Returns a :class:`FitResult` whose
    ``config`` is the one trained and ``recipe`` the choices made (the time budget's included)."""
    from llm_router.train.recipe import resolve_recipe

    config, recipe = resolve_recipe(config, train_df)
    result = fitter(config.method)(train_df, val_df, config, targets, **options)
    result.recipe = recipe + result.recipe
    result.config = result.config or config
    return result


def as_trained(fitted: FitResult) -> TrainConfig:
    """The configuration a fit ran with - every ``auto`` field decided - with the recipe's reasons in ``extra``."""
    recipe = [c.to_dict() for c in fitted.recipe]
    return dataclasses.replace(fitted.config, extra={**fitted.config.extra, "recipe": recipe})


@dataclass
class TrainResult:
    out_dir: Path
    metrics: dict
    history: list[dict]
    config: TrainConfig
    targets: Targets
    split_sizes: dict[str, int]
    seconds: float


def data_info(df: pd.DataFrame, config: TrainConfig) -> dict:
    return {
        "path": df.attrs.get("source"),
        "text_col": df.attrs.get("text_col", "text"),
        "label_col": df.attrs.get("label_col", "label"),
        "train_label_col": config.train_label_col,
    }


def write_model_folder(
    out: Path,
    fitted: FitResult,
    config: TrainConfig,
    *,
    data: dict,
    split: dict,
    metrics: dict | None,
    created_by: str = "router train",
) -> None:
    """Everything docs/ARTEFACTS.md lists for a ``kind: hf`` folder, into ``out`` (an atomic temp folder)."""
    from llm_router.eval.plots import confusion_matrix_png, training_curves_png

    fitted.model.save_pretrained(out)
    fitted.tokenizer.save_pretrained(out)
    targets = fitted.targets
    router = router_record(
        kind="hf",
        labels=targets.labels,
        routes=targets.routes,
        route_map=targets.route_map,
        text_prefix=fitted.text_prefix,
        max_length=fitted.max_length,
        base_model=config.model,
        data=data,
        created_by=created_by,
    )
    records = {"train_config.json": config.to_dict(), "history.json": fitted.history, "metrics.json": metrics}
    write_model_files(out, router, split=split, records=records)
    training_curves_png(fitted.history, out / "training_curves.png", title=Path(str(config.model)).name)
    if metrics is not None:
        confusion_matrix_png(
            metrics["confusion_matrix"],
            metrics["labels"],
            out / "confusion_matrix.png",
            title=f"test macro F1 {metrics['macro_f1']:.3f}",
        )


def train(
    df: pd.DataFrame,
    config: TrainConfig | None = None,
    out_dir: str | os.PathLike[str] = "router-model",
    *,
    progress: bool = True,
    created_by: str = "router train",
) -> TrainResult:
    """Split ``df`` (columns text, label [+ config.train_label_col]), train, evaluate on the test split and write
    the model folder ``out_dir`` (atomically)."""
    from llm_router.data import split_dataset
    from llm_router.eval.metrics import classification_report
    from llm_router.utils import atomic_output_dir
    from llm_router.utils.files import check_replaceable

    config = config or TrainConfig()
    check_replaceable(out_dir)  # before the epochs, not after them
    start = time.perf_counter()
    df, targets = prepare_targets(df, config)
    config = resolved_config(config, targets)
    split = split_dataset(
        df, test_size=config.test_size, val_size=config.val_size, seed=config.seed, group_col=config.group_col
    )
    if split.train["label"].nunique() < 2:
        raise RouterError("the training split has fewer than two classes: add data or lower --test-size")
    exclude = list(split.val["text"]) + list(split.test["text"])
    with make_progress(progress) as prog:
        fitted = fit(
            split.train,
            split.val,
            config,
            targets,
            exclude_texts=exclude,
            progress=prog,
            started_at=start,
            predict_after=len(split.test),
        )
    config = as_trained(fitted)
    metrics = None
    if len(split.test):
        pred, probs = fitted.predict_routes(split.test["text"].tolist(), config.eval_batch_size)
        metrics = classification_report(
            split.test["label"].tolist(),
            pred,
            targets.routes,
            probs=probs,
            texts=split.test["text"].tolist(),
            seed=config.seed,
        )
        metrics.update(_run_info(fitted, split.dedup_report.dropped_rows))
    split_record = {
        "seed": config.seed,
        "test_size": config.test_size,
        "val_size": config.val_size,
        "group_col": config.group_col,
        **split.hashes(),
    }
    assert not set(split_record["test"]) & set(split_record["train"]), "test rows leaked into training"
    with atomic_output_dir(out_dir) as tmp:
        write_model_folder(
            tmp,
            fitted,
            config,
            data=data_info(df, config),
            split=split_record,
            metrics=metrics,
            created_by=created_by,
        )
    sizes = {
        "train": len(split.train),
        "val": len(split.val),
        "test": len(split.test),
        "train_rows_used": fitted.train_rows,
        "duplicates_dropped": split.dedup_report.dropped_rows,
    }
    return TrainResult(
        Path(out_dir), metrics or {}, fitted.history, config, targets, sizes, time.perf_counter() - start
    )


def _run_info(fitted: FitResult, duplicates_dropped: int) -> dict:
    return {
        "best_epoch": fitted.best_epoch,
        "train_seconds": round(fitted.seconds, 1),
        "train_rows_used": fitted.train_rows,
        "duplicates_dropped": duplicates_dropped,
    }


# -------------------------------------------------------------------------------------------------- printing
def print_train_result(result: TrainResult, console) -> None:
    """One summary table of a `router train` run."""
    from rich.table import Table

    m = result.metrics
    table = Table(title=f"router train -> {result.out_dir}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    cfg = result.config
    table.add_row("model", f"{cfg.model} ({cfg.method}), max_length {cfg.max_length}")
    for choice in cfg.extra.get("recipe", []):
        table.add_row(f"recipe: {choice['field']}", f"{choice['value']} - {choice['reason']}")
    table.add_row(
        "split (distinct rows)",
        f"train {result.split_sizes['train']} / val {result.split_sizes['val']} / "
        f"test {result.split_sizes['test']} ({result.split_sizes['duplicates_dropped']} duplicates dropped)",
    )
    table.add_row(
        "training rows used", f"{result.split_sizes['train_rows_used']} (after augmentation/over-sampling)"
    )
    if result.targets.route_map:
        table.add_row(
            "labels -> routes",
            f"{len(result.targets.labels)} {cfg.train_label_col} labels -> "
            f"{len(result.targets.routes)} routes",
        )
    best = m.get("best_epoch", len(result.history))
    val = [h.get("val_macro_f1") for h in result.history if h.get("val_macro_f1") is not None]
    table.add_row(
        "epochs",
        f"{len([h for h in result.history if h.get('epoch', 0) > 0])} run, model from epoch {best}"
        + (f" (best val macro F1 {max(val):.3f})" if val else ""),
    )
    if m:
        lo, hi = m["macro_f1_ci95"]
        table.add_row("test macro F1", f"{m['macro_f1']:.3f} (95% CI {lo:.3f}-{hi:.3f})")
        table.add_row("test accuracy / weighted F1", f"{m['accuracy']:.3f} / {m['weighted_f1']:.3f}")
    table.add_row("time", f"{result.seconds:.0f} s")
    console.print(table)


def print_route_map(targets: Targets, console, label_col: str) -> None:
    """The label -> route map (printed when it was derived with ``--route-map auto``)."""
    from rich.table import Table

    table = Table(label_col, "route", "note", title="route map (auto: each label's majority route)")
    for label, route in (targets.route_map or {}).items():
        conflict = targets.route_map_conflicts.get(label)
        table.add_row(label, route, "" if not conflict else f"seen with {conflict}")
    console.print(table)
