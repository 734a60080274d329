"""What the teacher is trained to output: labels (the routes, or a finer label column) and the map from labels to
routes; the class weights and the training rows (augmentation, over-sampling) that follow from them."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from llm_router.errors import RouterError
from llm_router.train.config import TrainConfig

TARGET = "target"  # working column: the label the model is trained on (route, or intent with a route map)


@dataclass
class Targets:
    """What the model outputs (``labels``) and how they become routes."""

    labels: list[str]
    routes: list[str]
    route_map: dict[str, str] | None = None
    label_col: str = "label"  # the column the labels come from ("label" = the routes themselves)
    # auto map: labels seen with more than one route
    route_map_conflicts: dict[str, dict[str, int]] = field(default_factory=dict)


def derive_route_map(df: pd.DataFrame, label_col: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """Each fine label's majority route (ties: alphabetical), and the labels that occur with more than one route."""
    counts = df.groupby([label_col, "label"]).size()
    mapping, conflicts = {}, {}
    for fine, group in counts.groupby(level=0):
        per_route = {route: int(n) for (_, route), n in group.items()}
        mapping[str(fine)] = min(per_route, key=lambda r: (-per_route[r], r))
        if len(per_route) > 1:
            conflicts[str(fine)] = per_route
    return dict(sorted(mapping.items())), conflicts


# Finer label columns that ``train_label_col="auto"`` uses when the data has one (see resolve_train_label_col).
AUTO_LABEL_COLUMNS = ("category",)


def resolve_train_label_col(df: pd.DataFrame, config: TrainConfig) -> str:
    """``config.train_label_col``, or for ``"auto"`` the first of :data:`AUTO_LABEL_COLUMNS` that the data has, that
    is never empty, is finer than the routes and whose every value occurs with one route only (so training on it
    loses nothing); else ``"label"`` (the routes themselves)."""
    if config.train_label_col != "auto":
        return config.train_label_col
    for col in AUTO_LABEL_COLUMNS:
        if col not in df.columns or df[col].isna().any() or (df[col].astype(str).str.strip() == "").any():
            continue
        if df[col].nunique() <= df["label"].nunique():
            continue
        _, conflicts = derive_route_map(df.assign(**{col: df[col].astype(str)}), col)
        if not conflicts:
            return col
    return "label"


def prepare_targets(df: pd.DataFrame, config: TrainConfig) -> tuple[pd.DataFrame, Targets]:
    """Add the training-target column and work out labels, routes and the route map."""
    col = resolve_train_label_col(df, config)
    if config.train_label_col == "auto":
        config = dataclasses.replace(
            config, train_label_col=col, route_map=None if col == "label" else config.route_map or "auto"
        )
    if col == "label":
        if config.route_map not in (None, "", {}):
            raise RouterError(
                "--route-map needs --train-label-col (the finer label column the map starts from)"
            )
        labels = sorted(df["label"].unique())
        return df.assign(**{TARGET: df["label"]}), Targets(labels, labels, label_col="label")
    if col not in df.columns:
        raise RouterError(f"no column {col!r} for --train-label-col (load it as an extra column)")
    missing = df[col].isna() | (df[col].astype(str).str.strip() == "")
    if missing.any():
        raise RouterError(f"{int(missing.sum())} row(s) have no {col!r}: fill them or drop them")
    df = df.assign(**{TARGET: df[col].astype(str)})
    conflicts: dict[str, dict[str, int]] = {}
    spec = config.route_map
    if spec == "auto":
        route_map, conflicts = derive_route_map(df, TARGET)
    elif isinstance(spec, dict):
        route_map = {str(k): str(v) for k, v in spec.items()}
    elif isinstance(spec, str | os.PathLike):
        from llm_router.utils import read_json

        path = Path(spec)
        if not path.is_file():
            raise RouterError(f"{path}: no such route-map file (or pass --route-map auto)")
        try:
            route_map = read_json(path)
        except ValueError as exc:
            raise RouterError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(route_map, dict) or not all(isinstance(v, str) for v in route_map.values()):
            raise RouterError(f"{path}: a route map is a JSON object {{label: route}}")
        route_map = {str(k): v for k, v in route_map.items()}
    else:
        raise RouterError(f"bad route map {spec!r}")
    unmapped = sorted(set(df[TARGET]) - set(route_map))
    if unmapped:
        raise RouterError(f"route map has no route for {col} value(s): {', '.join(map(repr, unmapped[:8]))}")
    labels = sorted(set(df[TARGET]))
    route_map = {label: route_map[label] for label in labels}
    routes = sorted(set(route_map.values()) | set(df["label"]))
    return df, Targets(labels, routes, route_map, route_map_conflicts=conflicts, label_col=col)


def route_class_weights(train_df: pd.DataFrame, config: TrainConfig, targets: Targets) -> np.ndarray | None:
    """Loss weight per output label: computed on the training split's routes (the imbalance that matters) and
    given to each label through its route."""
    from llm_router.data.balance import class_weights

    per_route = class_weights(train_df["label"], targets.routes, config.class_weights)
    if per_route is None:
        return None
    if targets.route_map is None:
        return per_route
    index = {r: i for i, r in enumerate(targets.routes)}
    return np.array([per_route[index[targets.route_map[label]]] for label in targets.labels])


def training_rows(
    train_df: pd.DataFrame, config: TrainConfig, exclude_texts: Sequence[str] = ()
) -> pd.DataFrame:
    """The training split after augmentation and over-sampling (both on the training split only)."""
    from llm_router.data.augment import augment_dataframe
    from llm_router.data.balance import oversample

    rows = augment_dataframe(
        train_df,
        config.augment,
        seed=config.seed,
        label_col="label",
        scope=config.augment_scope,
        exclude_texts=exclude_texts,
    )
    return oversample(rows, config.oversample, label_col="label", seed=config.seed)


def resolved_config(config: TrainConfig, targets: Targets) -> TrainConfig:
    """``config`` with ``train_label_col="auto"`` replaced by what it resolved to (what train_config.json keeps)."""
    if config.train_label_col != "auto":
        return config
    if targets.label_col == "label":
        return dataclasses.replace(config, train_label_col="label", route_map=None)
    return dataclasses.replace(
        config, train_label_col=targets.label_col, route_map=config.route_map or "auto"
    )
