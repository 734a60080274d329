"""`TrainConfig`: every option of `router train` / `router cv` / `router tune` in one dataclass.

CLI options map 1:1 onto its fields; ``router train --config best.json`` loads one (explicit CLI options override
it); every model folder stores the exact one it was trained with (``train_config.json``). The defaults are the best
configuration found on the seed data (see ``docs/ABLATION.md``), so a user who passes no options gets it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from llm_router.errors import RouterError

METHODS = ("finetune", "setfit")
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULERS = ("linear", "cosine", "constant")


@dataclass
class TrainConfig:
    """How to train a router (teacher) model. Every field has a working default."""

    # --- what to train
    method: str = "finetune"  # "finetune" (cross-entropy fine-tuning) | "setfit" (contrastive body + head)
    # hub id or local HF folder; "auto": chosen from the training texts' scripts (llm_router.train.recipe)
    model: str = "auto"
    # "label": the routes; a column name (e.g. "intent") = train on that finer label and map predictions to routes
    # (needs route_map); "auto": a finer column such as "category" when the data has one that maps 1:1 to routes
    train_label_col: str = "label"
    route_map: str | dict[str, str] | None = None  # None | "auto" | path to JSON | {label: route}
    # --- optimisation
    epochs: int = 8
    learning_rate: float = 1e-4
    head_learning_rate: float | None = None  # None = learning_rate; the classifier head's own rate
    head_warmup_epochs: int = 5  # LP-FT: first train only the head on the frozen encoder for this many epochs
    head_warmup_lr: float = 1e-3
    soup: int = 1  # > 1: train this many copies (other data order / dropout) and average their weights
    layer_lr_decay: float = 1.0  # < 1: lower layers learn slower (layer-wise learning-rate decay)
    batch_size: int = 16
    max_length: int | None = None  # None = chosen from the training texts' token lengths (recipe)
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    dropout: float | None = None  # None = the model's own (hidden + attention dropout)
    optimizer: str = "adamw"
    scheduler: str = "linear"
    label_smoothing: float = 0.0
    freeze_embeddings: bool = True  # freeze the (huge, multilingual) word-embedding matrix
    # train only the top k encoder layers (the bottom's output is computed once per text); None = all
    trainable_layers: int | None = 6
    # keep only the encoder's first K layers (a shallower, faster teacher); None = all of them
    encoder_layers: int | None = None
    seed: int = 42
    # --- imbalance and augmentation (training split only)
    class_weights: str = "auto"  # auto (balanced when imbalanced >= 1.5x) | none | balanced | sqrt
    oversample: float = 0.0  # 0 = off; r = repeat minority rows up to r x the majority count
    augment: str = ""  # e.g. "typo:2,spacing:1,swap:1"; "" = none
    augment_scope: str = "minority"  # minority | all
    # --- validation, early stopping, split
    early_stopping_patience: int = 0  # epochs without val macro-F1 gain before stopping; 0 = train all epochs
    select_best_epoch: bool = False  # keep the state of the best validation epoch (needs val_size > 0)
    test_size: float = 0.2
    val_size: float = 0.1
    # rows sharing a value of this column (a conversation, a user, a paraphrase cluster) never land on both sides
    # of a split or a CV fold; None = rows are independent
    group_col: str | None = None
    # --- SetFit (method="setfit")
    setfit_iterations: int = 4  # contrastive pairs (of each kind) per example
    setfit_body_epochs: int = 1
    setfit_body_learning_rate: float = 2e-5
    # --- runtime
    # fewer epochs when the measured cost of all of them exceeds this many seconds (0 or None = no budget). Wall
    # time: on a machine busy with other work the same data gets fewer epochs - use 0 for reproducible runs
    time_budget_s: float | None = 900.0
    threads: int | None = None  # torch threads; None = 2 (or fewer cores)
    eval_batch_size: int = 64
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes carried into train_config.json

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def bad(msg: str) -> None:
            raise RouterError(f"bad training option: {msg}")

        if self.method not in METHODS:
            bad(f"method {self.method!r} (choose from {', '.join(METHODS)})")
        if self.optimizer not in OPTIMIZERS:
            bad(f"optimizer {self.optimizer!r} (choose from {', '.join(OPTIMIZERS)})")
        if self.scheduler not in SCHEDULERS:
            bad(f"scheduler {self.scheduler!r} (choose from {', '.join(SCHEDULERS)})")
        if self.class_weights not in ("auto", "none", "balanced", "sqrt"):
            bad(f"class weights {self.class_weights!r} (auto, none, balanced or sqrt)")
        if self.time_budget_s is not None and self.time_budget_s < 0:
            bad(f"time budget must be >= 0 seconds, 0 = none (got {self.time_budget_s})")
        if self.epochs < 1:
            bad(f"epochs must be >= 1 (got {self.epochs})")
        if self.batch_size < 1:
            bad(f"batch size must be >= 1 (got {self.batch_size})")
        if self.soup < 1:
            bad(f"soup must be >= 1 (got {self.soup})")
        if not 0 < self.layer_lr_decay <= 1:
            bad(f"layer lr decay must be in (0, 1] (got {self.layer_lr_decay})")
        if not self.learning_rate > 0:
            bad(f"learning rate must be > 0 (got {self.learning_rate})")
        if self.max_length is not None and self.max_length < 4:
            bad(f"max length must be >= 4 (got {self.max_length})")
        if not 0 <= self.warmup_ratio < 1:
            bad(f"warmup ratio must be in [0, 1) (got {self.warmup_ratio})")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            bad(f"dropout must be in [0, 1) (got {self.dropout})")
        if not 0 <= self.oversample <= 1:
            bad(f"oversample ratio must be in [0, 1] (got {self.oversample})")
        if self.augment_scope not in ("minority", "all"):
            bad(f"augment scope {self.augment_scope!r} (minority or all)")
        if not 0 <= self.label_smoothing < 1:
            bad(f"label smoothing must be in [0, 1) (got {self.label_smoothing})")
        if self.trainable_layers is not None and self.trainable_layers < 0:
            bad(f"trainable layers must be >= 0 (got {self.trainable_layers})")
        if self.encoder_layers is not None and self.encoder_layers < 1:
            bad(f"encoder layers must be >= 1 (got {self.encoder_layers})")
        if self.early_stopping_patience < 0:
            bad(f"early stopping patience must be >= 0 (got {self.early_stopping_patience})")
        if self.train_label_col not in ("label", "auto") and self.route_map is None:
            bad(f"--train-label-col {self.train_label_col} needs --route-map (a JSON file or 'auto')")
        if self.augment:
            from llm_router.data.augment import parse_augment_spec

            parse_augment_spec(self.augment)

    # ------------------------------------------------------------------------------------------ (de)serialise
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, path: str | os.PathLike[str]) -> Path:
        from llm_router.utils import atomic_write_json

        return atomic_write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RouterError(f"unknown training option(s) in config: {', '.join(unknown)}")
        try:
            return cls(**data)
        except (TypeError, ValueError, AttributeError) as exc:  # e.g. "epochs": "abc" meets a comparison
            raise RouterError(f"a training option in the config has the wrong type ({exc})") from None

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> TrainConfig:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RouterError(f"{path}: no such config file") from None
        except json.JSONDecodeError as exc:
            raise RouterError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        except UnicodeDecodeError:
            raise RouterError(f"{path}: not a UTF-8 text file") from None
        if isinstance(data, dict) and isinstance(data.get("config"), dict):  # a `router tune` result file
            data = data["config"]
        if not isinstance(data, dict):
            raise RouterError(f"{path}: a config must be a JSON object of training options")
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (``None`` values are ignored: "not given on the command line")."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def config_from_options(config_path: str | os.PathLike[str] | None = None, **options: Any) -> TrainConfig:
    """The configuration a command runs with: ``--config FILE`` (or the defaults), then every option given on the
    command line (``None`` = not given) on top."""
    base = TrainConfig.from_json(config_path) if config_path else TrainConfig()
    given = {k: v for k, v in options.items() if v is not None}
    if given.get("augment", "").lower() in ("none", "off"):
        given["augment"] = ""
    route_map = given.get("route_map")
    if isinstance(route_map, str) and route_map.lower() in ("none", "off"):
        given["route_map"] = None
    data = base.to_dict() | given
    return TrainConfig.from_dict(data)
