"""`router distill` options (:class:`DistillConfig`) and what a run returns (:class:`DistillResult`)."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llm_router.errors import RouterError

DEFAULT_AUGMENT = "typo:2,spacing:1,swap:1,punct:1"
SELECT_ON = ("agreement", "kl", "macro_f1")


@dataclass
class DistillConfig:
    """How to distil a teacher into a student. Every field has a working default."""

    student: str = "layers:4"  # layers:K | static | a Hugging Face model id or folder
    # --- transfer set (train split only; every text is labelled softly by the teacher)
    augment: str = DEFAULT_AUGMENT  # llm_router.data.augment spec for every training text; "" = none
    mix: int = 4  # unlabelled mixed texts per training text (word swaps / splices across texts)
    # at most this many transfer texts: every training text stays, generated ones (augmented, mixed) are sampled
    # to fit - on a few hundred rows nothing is cut, on thousands it keeps an epoch affordable on a CPU
    max_transfer: int | None = 6000
    unlabeled: str | None = None  # extra texts: .txt lines, or column `unlabeled_col` of a table
    unlabeled_col: str = "text"
    data: str | None = None  # override router.json's data path (the same file, moved)
    # check that no group of this column spans the teacher's train/val/test parts (default: split.json's group_col)
    group_col: str | None = None
    # --- loss
    alpha: float = 0.5  # weight of CE on gold labels; 1 - alpha goes to the KD term
    temperature: float = 2.0
    hidden_weight: float = 1.0  # layers:K: MSE between mapped hidden states (TinyBERT; teacher's cached)
    attention_weight: float = 0.0  # layers:K: MSE between mapped attention maps (TinyBERT)
    class_weights: str = "none"  # none | balanced (inverse class frequency on the gold CE)
    # --- student construction
    prune_vocab: bool = True  # layers:K / static: keep only the transfer texts' tokens (+ specials)
    # single-character pieces kept besides the used ones, so unseen words fall back to characters, not unk:
    # "script" (all of every script seen) | "seen" (the characters seen) | "none"
    keep_chars: str = "script"
    keep_frequent: int = 0  # also keep this many of the most frequent pieces of the scripts seen
    freeze_embeddings: bool = True  # keep the teacher's token embeddings: unseen tokens stay consistent
    # --- optimisation
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    patience: int = 3  # epochs without a gain in `select_on` before stopping; 0 = run all epochs
    # which epoch's weights to keep (and when to stop): "agreement" = share of validation texts routed as the
    # teacher routes them, ties broken by the smaller KL(teacher || student); "kl" = that KL alone;
    # "macro_f1" = validation macro F1 against the gold routes
    select_on: str = "agreement"
    max_length: int | None = None  # None = the teacher's
    seed: int = 42
    threads: int | None = None  # torch threads; None = torch's default
    eval_batch_size: int = 128
    # --- static students
    static_pca_dims: int | None = 256
    static_pooling: str = "mean"  # model2vec pooling of the teacher's token outputs: mean | first | pooler
    static_c_grid: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)  # head's C, chosen on val

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise RouterError(f"bad distillation option: {msg}")

        from llm_router.distill.student import parse_student_spec

        parse_student_spec(self.student)
        if not 0 <= self.alpha <= 1:
            bad(f"alpha must be in [0, 1] (got {self.alpha})")
        if not self.temperature > 0:
            bad(f"temperature must be > 0 (got {self.temperature})")
        if self.hidden_weight < 0 or self.attention_weight < 0:
            bad("hidden / attention weights must be >= 0")
        if self.class_weights not in ("none", "balanced"):
            bad(f"class weights {self.class_weights!r} (none or balanced)")
        if self.mix < 0:
            bad(f"mix must be >= 0 (got {self.mix})")
        if self.max_transfer is not None and self.max_transfer < 1:
            bad(f"max_transfer must be >= 1 (got {self.max_transfer})")
        if self.epochs < 1 or self.batch_size < 1:
            bad("epochs and batch size must be >= 1")
        if not self.learning_rate > 0:
            bad(f"learning rate must be > 0 (got {self.learning_rate})")
        if self.keep_chars not in ("none", "seen", "script"):
            bad(f"keep_chars {self.keep_chars!r} (none, seen or script)")
        if self.select_on not in SELECT_ON:
            bad(f"select_on {self.select_on!r} ({', '.join(SELECT_ON)})")
        if self.static_pooling not in ("mean", "first", "pooler"):
            bad(f"static pooling {self.static_pooling!r} (mean, first or pooler)")
        if self.augment:
            from llm_router.data.augment import parse_augment_spec

            parse_augment_spec(self.augment)
        self.static_c_grid = tuple(float(c) for c in self.static_c_grid)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> DistillConfig:
        """A copy with some fields changed (``None`` values are ignored: "not given on the command line")."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


@dataclass
class DistillResult:
    out_dir: Path
    student: str
    metrics: dict  # student on the test split (route level)
    teacher_metrics: dict  # teacher on the same rows
    info: dict  # distill.json

    @property
    def f1_drop(self) -> float:
        return float(self.teacher_metrics["macro_f1"] - self.metrics["macro_f1"])
