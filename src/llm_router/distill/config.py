"""`router distill` options (:class:`DistillConfig`) and what a run returns (:class:`DistillResult`); `router exits`
options (:class:`ExitsConfig`)."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

from llm_router.errors import RouterError
from llm_router.utils.fields import option

DEFAULT_AUGMENT = "typo:2,spacing:1,swap:1,punct:1"
SELECT_ON = ("agreement", "kl", "macro_f1")


def _bad_option(msg: str) -> NoReturn:
    raise RouterError(f"bad distillation option: {msg}")


@dataclass
class DistillConfig:
    """How to distil a teacher into a student. Every field has a working default."""

    student: str = option(
        "layers:4",
        "layers:K (the teacher's first K-1 layers and its last start the student) | layers:i,j,... (these "
        "teacher layers, 0-based, start it) | static (model2vec) | a Hugging Face model name or folder.",
    )
    # --- transfer set (train split only; every text is labelled softly by the teacher)
    augment: str = option(
        DEFAULT_AUGMENT, "Augmented copies of every training text, e.g. 'typo:2,swap:1'; 'none' to disable."
    )
    mix: int = option(4, "Unlabelled mixed texts per training text (word swaps, splices across texts).")
    # generated texts pay on a few hundred rows (seed file, demo set: +14 and +7 points of agreement with the
    # teacher) and not on thousands (RouterBench's 2,046: level, at a third of the time): docs/DISTILLATION.md
    generate_below: int = option(
        1000,
        "Add the augmented copies and mixed texts only when the training split has fewer than N texts (0: "
        "always); from N on, the training texts (and --unlabeled) are the transfer set.",
    )
    # every training text stays, generated ones (augmented, mixed) are sampled to fit - on a few hundred rows
    # nothing is cut, on thousands it keeps an epoch affordable on a CPU
    max_transfer: int | None = option(
        6000, "At most N transfer texts (training texts kept, generated ones sampled)."
    )
    unlabeled: str | None = option(
        None, "Extra unlabelled texts for the transfer set (.txt lines, or a table's --unlabeled-col)."
    )
    unlabeled_col: str = option("text", "Text column of --unlabeled.")
    data: str | None = option(None, "The teacher's data file, if it moved (default: router.json's).")
    group_col: str | None = option(
        None,
        "Check that no group of this column spans the teacher's train/val/test parts "
        "(default: split.json's group column).",
    )
    # --- loss
    alpha: float = option(0.5, "Weight of the gold-label CE; 1 - alpha goes to the KD term.")
    # T 1 ties T 2 over 17 (data set, seed) pairs (docs/DISTILLATION.md point 11): the default stays
    temperature: float = option(2.0, "KD softmax temperature.")
    temperatures: str = option(
        "",
        "Several KD temperatures, e.g. '1,2,4': the teacher's soft labels at each, the KD term their mean "
        "(T^2-scaled); empty = --temperature alone.",
    )
    hidden_weight: float = option(
        1.0, "layers:K: hidden-state MSE weight (TinyBERT; teacher's states cached)."
    )
    attention_weight: float = option(0.0, "layers:K: attention-map MSE weight (TinyBERT).")
    class_weights: str = option("none", "none | balanced (inverse class frequency on the gold CE).")
    # --- student construction
    prune_vocab: bool | None = option(
        None,
        "Keep only the transfer texts' tokens (+ specials). Default (none): static students prune (their size is "
        "their vocabulary), layers:K students keep the teacher's whole vocabulary (docs/DISTILLATION.md: pruning "
        "changed the tokenisation of unseen test words and cost 5.7 points of agreement on the demo set).",
    )
    keep_chars: str = option(
        "script",
        "With pruning, also keep 1-char pieces so unseen words fall back to characters, not unk: "
        "script (all of every script seen) | seen | none.",
    )
    keep_frequent: int = option(0, "With pruning, also keep the N commonest pieces of the scripts seen.")
    freeze_embeddings: bool = option(
        True, "Keep the teacher's token embeddings (unseen tokens stay consistent)."
    )
    # --- optimisation
    epochs: int = option(10, "Training epochs.")
    batch_size: int = option(32, "Training batch size.")
    learning_rate: float = option(1e-4, "Learning rate.", "--lr", "--learning-rate")
    weight_decay: float = option(0.01, "AdamW weight decay (not on biases and norms).")
    warmup_ratio: float = option(0.1, "Warm-up share of the training steps.", "--warmup")
    patience: int = option(3, "Epochs without a gain in --select-on before stopping; 0 = run all epochs.")
    select_on: str = option(
        "agreement",
        "Keep the epoch with the best validation agreement with the teacher (agreement; ties: smaller KL), "
        "KL to the teacher (kl), or macro F1 on the gold routes (macro_f1).",
    )
    time_budget_s: float | None = option(
        1200.0,
        "Seconds from the start of distillation (teacher pass included) by which training ends: after each epoch, "
        "fewer epochs when the rest would overrun at the measured pace (more again, up to --epochs, when the pace "
        "recovers), the learning rate decaying to zero over them; 0 = none (reproducible runs).",
        "--time-budget",
    )
    max_length: int | None = option(None, "Token truncation (default: the teacher's).")
    seed: int = option(42, "Random seed.")
    threads: int | None = option(None, "Torch threads for training (default: torch's).")
    eval_batch_size: int = 128
    # --- static students
    static_pca_dims: int | None = option(
        256, "static: PCA dimensions of the token vectors (none = keep all)."
    )
    static_pooling: str = option(
        "mean", "static: model2vec pooling of the teacher's token outputs: mean | first | pooler."
    )
    static_c_grid: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)  # head's C, chosen on val

    def __post_init__(self) -> None:
        from llm_router.distill.student import parse_student_spec

        parse_student_spec(self.student)
        if not 0 <= self.alpha <= 1:
            _bad_option(f"alpha must be in [0, 1] (got {self.alpha})")
        if not self.temperature > 0:
            _bad_option(f"temperature must be > 0 (got {self.temperature})")
        self.kd_temperatures()  # raises on a bad --temperatures list
        if self.hidden_weight < 0 or self.attention_weight < 0:
            _bad_option("hidden / attention weights must be >= 0")
        if self.class_weights not in ("none", "balanced"):
            _bad_option(f"class weights {self.class_weights!r} (none or balanced)")
        if self.mix < 0:
            _bad_option(f"mix must be >= 0 (got {self.mix})")
        if self.generate_below < 0:
            _bad_option(f"generate_below must be >= 0, 0 = always (got {self.generate_below})")
        if self.max_transfer is not None and self.max_transfer < 1:
            _bad_option(f"max_transfer must be >= 1 (got {self.max_transfer})")
        if self.epochs < 1 or self.batch_size < 1:
            _bad_option("epochs and batch size must be >= 1")
        if self.time_budget_s is not None and self.time_budget_s < 0:
            _bad_option(f"time budget must be >= 0 seconds, 0 = none (got {self.time_budget_s})")
        if not self.learning_rate > 0:
            _bad_option(f"learning rate must be > 0 (got {self.learning_rate})")
        if self.keep_chars not in ("none", "seen", "script"):
            _bad_option(f"keep_chars {self.keep_chars!r} (none, seen or script)")
        if self.select_on not in SELECT_ON:
            _bad_option(f"select_on {self.select_on!r} ({', '.join(SELECT_ON)})")
        if self.static_pooling not in ("mean", "first", "pooler"):
            _bad_option(f"static pooling {self.static_pooling!r} (mean, first or pooler)")
        if not 0 <= self.warmup_ratio < 1:
            _bad_option(f"warm-up share must be in [0, 1) (got {self.warmup_ratio})")
        if self.max_length is not None and self.max_length < 1:
            _bad_option(f"max length must be >= 1 token (got {self.max_length})")
        if self.threads is not None and self.threads < 1:
            _bad_option(f"threads must be >= 1 (got {self.threads})")
        if self.static_pca_dims is not None and self.static_pca_dims < 1:
            _bad_option(f"static PCA dimensions must be >= 1 (got {self.static_pca_dims})")
        if self.augment.strip().lower() == "none":
            self.augment = ""
        if self.augment:
            from llm_router.data.augment import parse_augment_spec

            parse_augment_spec(self.augment)
        self.static_c_grid = tuple(float(c) for c in self.static_c_grid)

    def kd_temperatures(self) -> tuple[float, ...]:
        """The KD temperatures: ``temperatures`` parsed, or ``(temperature,)`` when it is empty."""
        if not self.temperatures.strip():
            return (self.temperature,)
        try:
            values = tuple(float(t) for t in self.temperatures.split(","))
        except ValueError:
            values = ()
        if not values or not all(t > 0 for t in values):
            _bad_option(f"temperatures must be numbers > 0 separated by commas (got {self.temperatures!r})")
        return values

    def prunes_vocab(self, student_kind: str) -> bool:
        """Whether a student of ``student_kind`` (``layers`` / ``static``) gets a pruned vocabulary."""
        return self.prune_vocab if self.prune_vocab is not None else student_kind == "static"

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


@dataclass
class ExitsConfig:
    """Every option of `router exits`."""

    model: str  # an ONNX folder of the teacher (`router quantize` output), or one .onnx file in it
    out: str
    # layers after which an exit head may answer (1-based: 2 = after the second layer); None: default_exits
    exits: list[int] | None = None
    reference: str | None = option(
        None,
        "Measure agreement against this model (folder or .onnx file); default: the folder's float model.onnx "
        "when it serves an INT8 file, else the served file.",
    )
    target_agreement: float = option(
        0.99, "Share of validation texts and their copies routed as the reference routes them."
    )
    max_cost_ms: float | None = option(
        None,
        "Expected batch-1 ms per text the thresholds may cost; beyond the target, the highest agreement within it.",
    )
    copies: int = option(8, "Augmented copies of each training text the exit heads also learn from.")
    max_head_texts: int = option(
        6000, "At most N texts the heads learn from (the training texts kept, their copies sampled to fit)."
    )
    probe_copies: int = option(
        8, "Augmented copies of each validation text the thresholds are chosen on (as `router cascade`)."
    )
    threads: int = option(1, "ONNX Runtime threads (here and when served).")
    latency_calls: int = option(30, "Batch-1 calls timed per segment.")
    grid: int = option(60, "At most this many candidate thresholds per exit.")
    seed: int = option(0, "Seed of the augmented copies.")

    def __post_init__(self) -> None:
        if not 0.0 < self.target_agreement <= 1.0:
            raise RouterError(f"--target-agreement must be in (0, 1] (got {self.target_agreement})")
        if self.exits is not None and (not self.exits or any(k < 1 for k in self.exits)):
            raise RouterError(f"--exits must be layer numbers >= 1 (got {self.exits})")
        if self.max_cost_ms is not None and not (0 < self.max_cost_ms < float("inf")):
            raise RouterError(f"max cost must be a number > 0 ms (got {self.max_cost_ms})")
        if self.grid < 2:
            raise RouterError(f"grid must be >= 2 (got {self.grid})")
        if self.copies < 0 or self.probe_copies < 0 or self.max_head_texts < 1:
            raise RouterError("copies must be >= 0 and max head texts >= 1")
        if self.threads < 1 or self.latency_calls < 1:
            raise RouterError("threads and latency calls must be >= 1")
