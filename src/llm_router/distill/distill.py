"""Knowledge distillation: put a big teacher's accuracy into a student small enough to serve in ~1 ms.

``distill(teacher_dir, out_dir, DistillConfig(...))`` builds the student named by ``config.student``
(``layers:K`` | a Hugging Face model | ``static``), trains it on the *transfer set* - the teacher's training texts,
augmented copies of them and any unlabelled texts, all labelled softly by the teacher (never a validation or test
text) - and writes a model folder in the same format as the teacher (docs/ARTEFACTS.md), with the teacher's
``split.json``, so every artefact is evaluated on the same held-out rows.

Loss (layer and HF students)::

    alpha * CE(gold)  +  (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))
      + hidden_weight * MSE(student hidden states, mapped teacher hidden states)     # layers:K only
      + attention_weight * MSE(student attention maps, mapped teacher attention maps) # layers:K only

Rows without a gold label (unlabelled texts) get the KD terms only. Teacher logits are computed once for the whole
transfer set; hidden states / attention maps (when their weights are > 0) are computed batch by batch.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from llm_router.errors import RouterError
from llm_router.utils import atomic_output_dir, atomic_write_json, read_json, text_hash

HIDDEN_CACHE_BYTES = 3e9  # largest (worst-case) cache of teacher hidden states kept in memory
DEFAULT_AUGMENT = "typo:2,spacing:1,swap:1,punct:1"


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
    patience: int = 3  # epochs without val macro-F1 gain before stopping; 0 = run all epochs
    max_length: int | None = None  # None = the teacher's
    seed: int = 42
    threads: int | None = None  # torch threads; None = torch's default
    eval_batch_size: int = 128
    # --- static students
    static_pca_dims: int | None = 256
    static_pooling: str = "mean"  # model2vec pooling of the teacher's token outputs: mean | first | pooler
    static_c_grid: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)  # head's C, chosen on val
    extra: dict[str, Any] = field(default_factory=dict)

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


# ------------------------------------------------------------------------------------------------ teacher + data
@dataclass
class TeacherFolder:
    """A teacher model folder's metadata and its data, split exactly as the teacher was."""

    path: Path
    router: dict
    split: dict
    train: Any  # DataFrame: text, gold (teacher label), route
    val: Any
    test: Any

    @property
    def labels(self) -> list[str]:
        return list(self.router["labels"])

    @property
    def routes(self) -> list[str]:
        return list(self.router.get("routes") or self.router["labels"])

    def to_route(self, label: str) -> str:
        route_map = self.router.get("route_map") or {}
        return route_map.get(label, label)

    @property
    def text_prefix(self) -> str:
        return self.router.get("text_prefix") or ""


def load_teacher_folder(
    teacher_dir: str | Path, data_path: str | Path | None = None, group_col: str | None = None
) -> TeacherFolder:
    """Read ``router.json`` and ``split.json`` of a ``kind: hf`` folder and re-load its data split by hash."""
    return load_folder_data(teacher_dir, data_path, require_kind="hf", group_col=group_col)


def _check_groups(parts: dict[str, Any], group_col: str, folder: Path) -> None:
    """Raise when one value of ``group_col`` has rows in two parts of a split (a leak between them)."""
    seen: dict[str, str] = {}
    for name, rows in parts.items():
        for group in rows[group_col].dropna().unique():
            if seen.setdefault(group, name) != name:
                raise RouterError(
                    f"{folder}/split.json: group {group!r} of '{group_col}' has rows in both {seen[group]} and "
                    f"{name}; retrain the teacher with `router train --group-col {group_col}`"
                )


def load_folder_data(
    folder: str | Path,
    data_path: str | Path | None = None,
    require_kind: str | None = None,
    group_col: str | None = None,
) -> TeacherFolder:
    """Any model folder's ``router.json`` / ``split.json`` and its data, split exactly as it was trained.

    With ``group_col`` (default: the one ``split.json`` was made with) no group may span two parts."""
    from llm_router.data import dedup, load_dataset

    teacher_dir = Path(folder)
    if not teacher_dir.is_dir():
        raise RouterError(f"{teacher_dir}: no such {'teacher ' if require_kind else ''}folder")
    for name in ("router.json", "split.json"):
        if not (teacher_dir / name).exists():
            raise RouterError(f"{teacher_dir}: not a model folder (no {name}); train one with `router train`")
    router = read_json(teacher_dir / "router.json")
    if require_kind and router.get("kind", "hf") != require_kind:
        raise RouterError(
            f"{teacher_dir}: teacher must be a PyTorch (kind {require_kind}) folder, not kind {router['kind']!r}"
        )
    split = read_json(teacher_dir / "split.json")
    data = dict(router.get("data") or {})
    path = data_path or data.get("path")
    if not path:
        raise RouterError(f"{teacher_dir}/router.json names no data file; pass --data")
    if not Path(path).exists():
        raise RouterError(f"{path}: the teacher's data file is gone; pass --data with the same file")
    text_col, label_col = data.get("text_col", "text"), data.get("label_col", "label")
    train_col = data.get("train_label_col") or "label"
    extra = [train_col] if train_col not in ("label", label_col) else []
    group_col = group_col or split.get("group_col")
    group_cols = [group_col] if group_col and group_col not in (*extra, text_col, label_col) else []
    df, _report = dedup(load_dataset(path, text_col, label_col, extra_cols=extra + group_cols))
    df = df.assign(
        gold=df[train_col] if extra else df["label"], route=df["label"], _hash=df["text"].map(text_hash)
    )

    def part(name: str):
        hashes = set(split.get(name) or [])
        rows = df[df["_hash"].isin(hashes)].reset_index(drop=True)
        if hashes and len(rows) < len(hashes):
            raise RouterError(
                f"{path}: only {len(rows)} of the {len(hashes)} {name} texts of {teacher_dir}/split.json are in "
                "the data; is this the file the teacher was trained on?"
            )
        return rows

    train, val, test = part("train"), part("val"), part("test")
    if group_col:
        _check_groups({"train": train, "val": val, "test": test}, group_col, teacher_dir)
    if train.empty:
        raise RouterError(f"{teacher_dir}/split.json: no training rows")
    labels = set(router["labels"])
    unknown = sorted(set(train["gold"]) - labels)
    if unknown:
        raise RouterError(
            f"training labels {unknown[:5]} are not among the teacher's labels {sorted(labels)}"
        )
    return TeacherFolder(teacher_dir, router, split, train, val, test)


def read_unlabeled(path: str | Path, column: str = "text") -> list[str]:
    """Texts of an unlabelled file: one per line for .txt, else ``column`` of any table ``read_table`` reads."""
    from llm_router.data import read_table

    path = Path(path)
    if path.suffix.lower() == ".txt":
        if not path.exists():
            raise RouterError(f"{path}: no such file")
        texts = path.read_text(encoding="utf-8").splitlines()
    else:
        df = read_table(path)
        if column not in df.columns:
            raise RouterError(f"{path}: no column '{column}' (columns: {', '.join(map(str, df.columns))})")
        texts = df[column].tolist()
    return [" ".join(str(t).split()) for t in texts if isinstance(t, str) and t.strip()]


@dataclass
class TransferSet:
    """Texts the student learns from; ``gold`` is a teacher-label index or -1 (unlabelled)."""

    texts: list[str]
    gold: np.ndarray
    source: list[str]  # "train" | augmenter name | "unlabeled"

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.source:
            out[s] = out.get(s, 0) + 1
        return out


def mixed_texts(texts: list[str], copies: int, seed: int = 0) -> list[str]:
    """Unlabelled pseudo-queries for the transfer set: for each text, ``copies`` variants that either replace one
    word with a word of another training text or splice the start of the text onto the end of another one (at a
    word boundary, or mid-text for unspaced scripts). They need not keep the label - the teacher labels them - but
    they probe the teacher between training examples, which is what a small student learns most from."""
    rng = random.Random(f"mix|{seed}")
    words = [w for t in texts for w in t.split()]
    out = []
    for text in texts:
        for _ in range(copies):
            other = texts[rng.randrange(len(texts))]
            parts = text.split()
            if len(parts) >= 2 and rng.random() < 0.5:
                parts[rng.randrange(len(parts))] = words[rng.randrange(len(words))]
                new = " ".join(parts)
            else:
                a_parts, b_parts = text.split(), other.split()
                if len(a_parts) >= 2 and len(b_parts) >= 2:
                    new = " ".join(
                        a_parts[: rng.randint(1, len(a_parts) - 1)]
                        + b_parts[rng.randint(1, len(b_parts) - 1) :]
                    )
                else:
                    cut_a = rng.randint(1, max(1, len(text) - 1))
                    cut_b = rng.randint(0, max(0, len(other) - 1))
                    new = text[:cut_a] + other[cut_b:]
            new = " ".join(new.split())
            if new and new != text:
                out.append(new)
    return out


def build_transfer_set(teacher: TeacherFolder, config: DistillConfig) -> TransferSet:
    """Training texts + augmented copies + mixed texts + unlabelled texts, with every validation / test text
    removed. Augmented copies keep their source's gold label; mixed and unlabelled texts have none (-1)."""
    from llm_router.data.augment import augment_dataframe

    held_out = set(teacher.split.get("val") or []) | set(teacher.split.get("test") or [])
    train = teacher.train[["text", "gold"]].rename(columns={"gold": "label"})
    exclude = list(teacher.val["text"]) + list(teacher.test["text"])
    augmented = augment_dataframe(train, config.augment, seed=config.seed, scope="all", exclude_texts=exclude)
    label_index = {label: i for i, label in enumerate(teacher.labels)}
    texts, gold, source, seen = [], [], [], set()

    def add(text: str, label: int, origin: str) -> None:
        h = text_hash(text)
        if h in held_out or h in seen:
            return
        seen.add(h)
        texts.append(text)
        gold.append(label)
        source.append(origin)

    for text, label, aug in zip(augmented["text"], augmented["label"], augmented["augmented"], strict=True):
        add(text, label_index[label], aug or "train")
    if config.mix:
        for text in mixed_texts(list(teacher.train["text"]), config.mix, config.seed):
            add(text, -1, "mix")
    if config.unlabeled:
        for text in read_unlabeled(config.unlabeled, config.unlabeled_col):
            add(text, -1, "unlabeled")
    if config.max_transfer is not None and len(texts) > config.max_transfer:
        keep = [i for i, origin in enumerate(source) if origin == "train"]
        generated = [i for i, origin in enumerate(source) if origin != "train"]
        room = max(0, config.max_transfer - len(keep))
        rng = np.random.default_rng(config.seed)
        keep = sorted(keep + rng.choice(generated, size=min(room, len(generated)), replace=False).tolist())
        texts, gold, source = [texts[i] for i in keep], [gold[i] for i in keep], [source[i] for i in keep]
    return TransferSet(texts, np.asarray(gold, dtype=np.int64), source)


# ------------------------------------------------------------------------------------------------ torch helpers
def _set_seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        transient=True,
    )


def length_bucketed_batches(lengths: Sequence[int], size: int, rng: np.random.Generator, pool: int = 16):
    """Shuffled batches of similar-length texts (less padding, same randomness): shuffle, sort each pool of
    ``pool`` batches by length, cut it into batches, shuffle the batch order."""
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), size * pool):
        chunk = order[start : start + size * pool]
        chunk = chunk[np.argsort([lengths[i] for i in chunk], kind="stable")]
        batches += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _encode(tokenizer, texts: list[str], prefix: str, max_length: int):
    return tokenizer(
        [prefix + t for t in texts], truncation=True, max_length=max_length, padding=True, return_tensors="pt"
    )


def predict_logits(model, tokenizer, texts: list[str], prefix: str, max_length: int, batch_size: int = 128):
    """Logits [n, n_labels] (float32 numpy) of a sequence classifier, in eval mode, without gradients."""
    return teacher_outputs(model, tokenizer, texts, prefix, max_length, batch_size)[0]


def teacher_outputs(
    model,
    tokenizer,
    texts: list[str],
    prefix: str,
    max_length: int,
    batch_size: int = 128,
    hidden_layers=None,
):
    """``(logits, hidden)``: logits [n, n_labels] float32 numpy; with ``hidden_layers`` (indices into
    ``hidden_states``, 0 = embeddings), ``hidden[i]`` is a float16 tensor [len(hidden_layers), tokens_i, dim] of
    text i (padding stripped), else None."""
    import torch

    model.eval()
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths per batch: less padding
    logits = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    hidden = [None] * len(texts) if hidden_layers else None
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            enc = _encode(tokenizer, [texts[i] for i in idx], prefix, max_length)
            result = model(**enc, output_hidden_states=bool(hidden_layers))
            logits[idx] = result.logits.float().cpu().numpy()
            if hidden_layers:
                stacked = torch.stack(
                    [result.hidden_states[i] for i in hidden_layers], 1
                ).half()  # [b, L, T, H]
                for i, row, length in zip(idx, stacked, enc["attention_mask"].sum(1).tolist(), strict=True):
                    hidden[i] = row[:, :length].clone()
    return logits, hidden


def _pad_hidden(cached, idx, seq_len: int):
    """Cached per-text teacher hidden states -> list over layers of [b, seq_len, dim] float32 (zero padded)."""
    import torch

    first = cached[idx[0]]
    batch = torch.zeros(first.shape[0], len(idx), seq_len, first.shape[-1], dtype=torch.float32)
    for j, i in enumerate(idx):
        h = cached[i]
        batch[:, j, : h.shape[1]] = h[:, :seq_len].float()
    return list(batch)


def route_macro_f1(teacher: TeacherFolder, logits: np.ndarray, rows) -> float:
    """Route-level macro F1 of ``logits`` against the routes of ``rows``."""
    from sklearn.metrics import f1_score

    if len(rows) == 0:
        return float("nan")
    labels = teacher.labels
    pred = [teacher.to_route(labels[i]) for i in logits.argmax(1)]
    return float(f1_score(list(rows["route"]), pred, labels=teacher.routes, average="macro", zero_division=0))


def route_agreement(teacher: TeacherFolder, logits: np.ndarray, teacher_logits: np.ndarray) -> float | None:
    """Share of texts on which two models pick the same route."""
    if len(logits) == 0:
        return None
    labels = teacher.labels
    a = [teacher.to_route(labels[i]) for i in logits.argmax(1)]
    b = [teacher.to_route(labels[i]) for i in teacher_logits.argmax(1)]
    return float(np.mean([x == y for x, y in zip(a, b, strict=True)]))


def route_report(teacher: TeacherFolder, logits: np.ndarray, rows) -> dict:
    """`llm_router.eval.metrics.classification_report` of route predictions (probabilities summed per route)."""
    from llm_router.eval.metrics import classification_report

    probs = _softmax(logits)
    routes = teacher.routes
    route_probs = np.zeros((len(probs), len(routes)))
    for j, label in enumerate(teacher.labels):
        route_probs[:, routes.index(teacher.to_route(label))] += probs[:, j]
    pred = [routes[i] for i in route_probs.argmax(1)]
    return classification_report(
        list(rows["route"]), pred, routes, probs=route_probs, texts=list(rows["text"])
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def kd_loss(student_logits, teacher_logits, gold, alpha: float, temperature: float, class_weight=None):
    """``alpha * CE(gold) + (1 - alpha) * T^2 * KL(teacher_T || student_T)``; rows with ``gold == -1`` get the KD
    term only. Returns ``(loss, parts)`` with the unweighted parts as floats."""
    import torch
    import torch.nn.functional as F

    t = temperature
    kl = F.kl_div(
        F.log_softmax(student_logits / t, -1),
        F.log_softmax(teacher_logits / t, -1),
        reduction="batchmean",
        log_target=True,
    ) * (t * t)
    has_gold = gold >= 0
    if alpha > 0 and bool(has_gold.any()):
        ce = F.cross_entropy(student_logits[has_gold], gold[has_gold], weight=class_weight)
    else:
        ce = torch.zeros((), dtype=student_logits.dtype)
    loss = alpha * ce + (1 - alpha) * kl
    return loss, {"ce": float(ce.detach()), "kl": float(kl.detach())}


def hidden_mse(student_hidden, teacher_hidden, mask):
    """Mean over aligned layer pairs of the token-wise MSE (padding ignored). ``student_hidden[i]`` and
    ``teacher_hidden[i]`` are [b, T, dim]: the embedding output and each student layer with its mapped teacher
    layer (see :func:`hidden_pairs`)."""
    import torch

    m = mask.unsqueeze(-1).to(student_hidden[0].dtype)
    denom = m.sum() * student_hidden[0].shape[-1]
    total = torch.zeros((), dtype=student_hidden[0].dtype)
    for s, t in zip(student_hidden, teacher_hidden, strict=True):
        total = total + (((s - t) ** 2) * m).sum() / denom
    return total / len(student_hidden)


def hidden_pairs(layer_map: list[int]) -> tuple[list[int], list[int]]:
    """Indices into the student's and the teacher's ``hidden_states`` that are matched: the embedding outputs,
    then student layer m's output with teacher layer ``layer_map[m]``'s."""
    return [0] + [m + 1 for m in range(len(layer_map))], [0] + [t + 1 for t in layer_map]


def attention_mse(student_att, teacher_att, layer_map: list[int], mask):
    """Mean over student layers of the MSE between attention probabilities and the mapped teacher layer's
    (query rows of padding tokens ignored)."""
    import torch

    m = mask[:, None, :, None].to(student_att[0].dtype)  # [b, 1, q, 1]
    denom = m.sum() * student_att[0].shape[1] * student_att[0].shape[-1]
    total = torch.zeros((), dtype=student_att[0].dtype)
    for s, t in enumerate(layer_map):
        total = total + (((student_att[s] - teacher_att[t]) ** 2) * m).sum() / denom
    return total / len(layer_map)


# ------------------------------------------------------------------------------------------------ main entry
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


def distill(
    teacher_dir: str | Path, out_dir: str | Path, config: DistillConfig | None = None
) -> DistillResult:
    """Distil the teacher in ``teacher_dir`` into the student ``config.student`` written to ``out_dir``."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from llm_router.distill.student import hf_student, layer_student, parse_student_spec
    from llm_router.utils import load_tokenizer

    config = config or DistillConfig()
    spec = parse_student_spec(config.student)
    if config.threads:
        torch.set_num_threads(config.threads)
    _set_seed(config.seed)
    teacher_info = load_teacher_folder(teacher_dir, config.data, config.group_col)
    max_length = int(config.max_length or teacher_info.router.get("max_length") or 128)
    prefix = teacher_info.text_prefix
    transfer = build_transfer_set(teacher_info, config)

    attn_impl = "eager" if config.attention_weight > 0 and spec.kind == "layers" else None
    try:
        tokenizer = load_tokenizer(teacher_info.path)
        teacher = AutoModelForSequenceClassification.from_pretrained(
            teacher_info.path, **({"attn_implementation": attn_impl} if attn_impl else {})
        )
    except (OSError, ValueError) as exc:
        raise RouterError(
            f"cannot load the teacher from {teacher_info.path}: {str(exc).splitlines()[0]}"
        ) from None
    teacher.eval()
    t0 = time.perf_counter()
    hidden_layers = None
    if spec.kind == "layers" and config.hidden_weight > 0:
        from llm_router.distill.student import select_layers

        hidden_layers = hidden_pairs(select_layers(teacher.config.num_hidden_layers, spec.num_layers))[1]
        worst_case = len(transfer.texts) * max_length * len(hidden_layers) * teacher.config.hidden_size * 2
        if worst_case > HIDDEN_CACHE_BYTES:  # too big to cache: the teacher runs on every batch instead
            hidden_layers = None
    teacher_logits, teacher_hidden = teacher_outputs(
        teacher, tokenizer, transfer.texts, prefix, max_length, config.eval_batch_size, hidden_layers
    )
    teacher_seconds = time.perf_counter() - t0
    teacher_test_logits = predict_logits(
        teacher, tokenizer, list(teacher_info.test["text"]), prefix, max_length, config.eval_batch_size
    )
    info: dict[str, Any] = {
        "teacher": str(teacher_info.path),
        "student": str(spec),
        "transfer_set": {"n": len(transfer.texts), **transfer.counts()},
        "teacher_logits_seconds": round(teacher_seconds, 2),
        "teacher_transfer_agreement": float(
            (teacher_logits.argmax(1)[transfer.gold >= 0] == transfer.gold[transfer.gold >= 0]).mean()
        )
        if (transfer.gold >= 0).any()
        else None,
    }

    if spec.kind == "static":
        from llm_router.distill.static import train_static_student

        return train_static_student(
            teacher,
            tokenizer,
            teacher_info,
            transfer,
            teacher_logits,
            teacher_test_logits,
            out_dir,
            config,
            info,
        )

    layer_map = None
    pruned = None
    student_prefix = prefix
    if spec.kind == "layers":
        kept_ids = None
        student_tokenizer = tokenizer
        if config.prune_vocab:
            from llm_router.distill.vocab import prune_tokenizer, unknown_token_stats

            pruned = prune_tokenizer(
                tokenizer,
                [prefix + t for t in transfer.texts],
                keep_chars=config.keep_chars,
                keep_frequent=config.keep_frequent,
                verify=True,
            )
            kept_ids = pruned.kept_ids
            student_tokenizer = pruned.tokenizer
            info["vocab"] = pruned.as_dict()
            info["vocab"]["test_unknown"] = unknown_token_stats(
                pruned.tokenizer, [prefix + t for t in teacher_info.test["text"]], reference=tokenizer
            )
            if len(teacher_info.test):
                info["vocab"]["teacher_with_pruned_vocab"] = pruning_cost(
                    teacher,
                    pruned,
                    teacher_info,
                    teacher_test_logits,
                    prefix,
                    max_length,
                    config.eval_batch_size,
                )
        student, layer_map = layer_student(teacher, spec.num_layers, kept_ids)
        info["layer_map"] = layer_map
        student_tokenizer.model_max_length = max_length
    else:
        student, student_tokenizer = hf_student(spec.model_name, teacher_info.labels)
        student_prefix = student_text_prefix(spec.model_name)
        if config.hidden_weight or config.attention_weight:
            info["note"] = "hidden-state / attention matching needs a layers:K student; ignored"

    history, best_state, best_f1 = _train(
        student,
        student_tokenizer,
        teacher,
        teacher_info,
        transfer,
        teacher_logits,
        config,
        student_prefix,
        max_length,
        layer_map if spec.kind == "layers" else None,
        pruned.kept_ids if pruned is not None else None,
        teacher_hidden,
    )
    if best_state is not None:
        student.load_state_dict(best_state)
    student.eval()
    test_logits = predict_logits(
        student,
        student_tokenizer,
        list(teacher_info.test["text"]),
        student_prefix,
        max_length,
        config.eval_batch_size,
    )
    metrics = route_report(teacher_info, test_logits, teacher_info.test) if len(teacher_info.test) else {}
    teacher_metrics = (
        route_report(teacher_info, teacher_test_logits, teacher_info.test) if len(teacher_info.test) else {}
    )
    info["test_agreement_with_teacher"] = route_agreement(teacher_info, test_logits, teacher_test_logits)
    info["best_val_macro_f1"] = best_f1
    info["test_macro_f1"] = metrics.get("macro_f1")
    info["teacher_test_macro_f1"] = teacher_metrics.get("macro_f1")
    info["student_params"] = int(sum(p.numel() for p in student.parameters()))
    info["teacher_params"] = int(sum(p.numel() for p in teacher.parameters()))

    router = {
        **teacher_info.router,
        "kind": "hf",
        "max_length": max_length,
        "onnx_file": None,
        "created_by": "router distill",
        "teacher": str(teacher_info.path),
        "student": str(spec),
    }
    if spec.kind == "hf":
        router["base_model"] = spec.model_name
        router["text_prefix"] = student_prefix
    with atomic_output_dir(out_dir) as tmp:
        student.config.id2label = dict(enumerate(teacher_info.labels))
        student.config.label2id = {v: k for k, v in student.config.id2label.items()}
        student.save_pretrained(tmp)
        student_tokenizer.save_pretrained(tmp)
        _write_common(tmp, teacher_info, router, config, metrics, info, history)
    return DistillResult(Path(out_dir), str(spec), metrics, teacher_metrics, info)


def student_text_prefix(model_name: str) -> str:
    """The text prefix a Hugging Face student expects (its model profile's; "" when unknown)."""
    try:
        from llm_router.models import model_profile
    except ImportError:  # the models stage is not there yet
        return ""
    try:
        return model_profile(model_name).text_prefix or ""
    except RouterError:
        return ""


def pruning_cost(
    teacher,
    pruned,
    teacher_info: TeacherFolder,
    teacher_test_logits,
    prefix: str,
    max_length: int,
    batch_size: int = 128,
) -> dict:
    """The full-depth teacher with the pruned vocabulary on the test split: what pruning alone costs (unseen test
    words fall back to smaller pieces), separate from what fewer layers cost. ``agreement`` is the share of test
    texts routed as the unpruned teacher routes them."""
    from llm_router.distill.student import layer_student

    full, _ = layer_student(teacher, teacher.config.num_hidden_layers, pruned.kept_ids)
    logits = predict_logits(
        full, pruned.tokenizer, list(teacher_info.test["text"]), prefix, max_length, batch_size
    )
    report = route_report(teacher_info, logits, teacher_info.test)
    return {
        "macro_f1": report["macro_f1"],
        "accuracy": report["accuracy"],
        "agreement": route_agreement(teacher_info, logits, teacher_test_logits),
    }


def _write_common(
    tmp: Path,
    teacher: TeacherFolder,
    router: dict,
    config: DistillConfig,
    metrics: dict,
    info: dict,
    history: list[dict],
) -> None:
    atomic_write_json(tmp / "router.json", router)
    shutil.copy2(teacher.path / "split.json", tmp / "split.json")
    atomic_write_json(tmp / "train_config.json", {**config.to_dict(), "teacher": str(teacher.path)})
    if metrics:
        atomic_write_json(tmp / "metrics.json", metrics)
    atomic_write_json(tmp / "distill.json", info)
    if history:
        atomic_write_json(tmp / "history.json", history)
        try:
            from llm_router.eval.plots import training_curves_png

            training_curves_png(
                history, tmp / "training_curves.png", title=f"distill {router.get('student')}"
            )
        except ImportError:  # pragma: no cover - plots belong to another stage
            pass


def _train(
    student,
    tokenizer,
    teacher,
    teacher_info: TeacherFolder,
    transfer: TransferSet,
    teacher_logits,
    config: DistillConfig,
    prefix: str,
    max_length: int,
    layer_map,
    kept_ids,
    teacher_hidden=None,
):
    """The distillation loop; returns (history, best state dict or None, best val macro F1).

    ``teacher_hidden``: the teacher's hidden states of every transfer text (see :func:`teacher_outputs`), cached
    so hidden-state matching needs no teacher forward per step; without it the teacher runs on each batch."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    match_layers = layer_map is not None and (config.hidden_weight > 0 or config.attention_weight > 0)
    to_teacher_ids = torch.as_tensor(kept_ids, dtype=torch.long) if kept_ids is not None else None
    n = len(transfer.texts)
    steps = config.epochs * math.ceil(n / config.batch_size)
    if config.freeze_embeddings:
        student.get_input_embeddings().weight.requires_grad_(False)
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    groups = [
        {
            "params": [
                p for name, p in student.named_parameters() if p.requires_grad and not name.endswith(no_decay)
            ],
            "weight_decay": config.weight_decay,
        },
        {
            "params": [
                p for name, p in student.named_parameters() if p.requires_grad and name.endswith(no_decay)
            ],
            "weight_decay": 0.0,
        },
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * steps), steps)
    class_weight = None
    if config.class_weights == "balanced":
        counts = np.bincount(transfer.gold[transfer.gold >= 0], minlength=len(teacher_info.labels)).astype(
            float
        )
        w = np.where(counts > 0, counts.sum() / (len(counts) * np.maximum(counts, 1)), 0.0)
        class_weight = torch.as_tensor(w, dtype=torch.float32)
    t_logits = torch.as_tensor(teacher_logits)
    gold = torch.as_tensor(transfer.gold)
    rng = np.random.default_rng(config.seed)
    lengths = [
        len(ids) for ids in tokenizer([prefix + t for t in transfer.texts], truncation=False)["input_ids"]
    ]
    val_texts = list(teacher_info.val["text"])
    history: list[dict] = []
    best_f1, best_state, best_epoch, stale = -1.0, None, 0, 0

    with _progress() as progress:
        task = progress.add_task("distilling", total=steps, info="")
        for epoch in range(1, config.epochs + 1):
            student.train()
            losses, parts_sum = [], {}
            for idx in length_bucketed_batches(lengths, config.batch_size, rng):
                texts = [transfer.texts[i] for i in idx]
                enc = _encode(tokenizer, texts, prefix, max_length)
                out = student(
                    **enc,
                    output_hidden_states=match_layers,
                    output_attentions=match_layers and config.attention_weight > 0,
                )
                loss, parts = kd_loss(
                    out.logits, t_logits[idx], gold[idx], config.alpha, config.temperature, class_weight
                )
                if match_layers:
                    mask = enc["attention_mask"]
                    s_idx, t_idx = hidden_pairs(layer_map)
                    need_teacher = config.attention_weight > 0 or teacher_hidden is None
                    if need_teacher:
                        t_enc = dict(enc)
                        if to_teacher_ids is not None:
                            t_enc["input_ids"] = to_teacher_ids[enc["input_ids"]]
                        with torch.no_grad():
                            t_out = teacher(
                                **t_enc,
                                output_hidden_states=teacher_hidden is None,
                                output_attentions=config.attention_weight > 0,
                            )
                    if config.hidden_weight > 0:
                        if teacher_hidden is not None:
                            t_hidden = _pad_hidden(teacher_hidden, idx, enc["input_ids"].shape[1])
                        else:
                            t_hidden = [t_out.hidden_states[i] for i in t_idx]
                        h = hidden_mse([out.hidden_states[i] for i in s_idx], t_hidden, mask)
                        loss = loss + config.hidden_weight * h
                        parts["hidden"] = float(h.detach())
                    if config.attention_weight > 0:
                        a = attention_mse(out.attentions, t_out.attentions, layer_map, mask)
                        loss = loss + config.attention_weight * a
                        parts["attention"] = float(a.detach())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                losses.append(float(loss.detach()))
                for k, v in parts.items():
                    parts_sum[k] = parts_sum.get(k, 0.0) + v
                progress.update(task, advance=1, info=f"epoch {epoch} loss {np.mean(losses):.4f}")
            row = {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)),
                **{f"train_{k}": v / max(len(losses), 1) for k, v in parts_sum.items()},
            }
            if val_texts:
                val_logits = predict_logits(
                    student, tokenizer, val_texts, prefix, max_length, config.eval_batch_size
                )
                row["val_macro_f1"] = route_macro_f1(teacher_info, val_logits, teacher_info.val)
            history.append(row)
            val_note = f", val macro F1 {row['val_macro_f1']:.3f}" if val_texts else ""
            progress.console.print(
                f"epoch {epoch}: train loss {row['train_loss']:.4f}{val_note}", highlight=False
            )
            progress.update(task, info=f"epoch {epoch} loss {row['train_loss']:.4f}")
            if val_texts:
                f1 = row["val_macro_f1"]
                if f1 > best_f1 + 1e-9:
                    best_f1, best_epoch, stale = f1, epoch, 0
                    best_state = copy.deepcopy(student.state_dict())
                else:
                    stale += 1
                    if config.patience and stale >= config.patience:
                        progress.console.print(
                            f"early stop: no val gain for {stale} epochs (best {best_epoch})"
                        )
                        break
    for row in history:
        row["best"] = row["epoch"] == best_epoch
    return history, best_state, (best_f1 if best_state is not None else None)
