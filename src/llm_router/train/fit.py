"""Fine-tune a sequence classifier (the router "teacher") on any Hugging Face encoder, and cross-validate it.

- :func:`train` splits the data (deduplicated, stratified, leak-free), fits, evaluates on the held-out test split
  and writes a model folder as described in ``docs/ARTEFACTS.md``.
- :func:`cross_validate` runs k-fold (optionally repeated) CV of one :class:`TrainConfig` and returns the mean and
  std of each metric.
- :func:`fit` is the training loop both share: a plain PyTorch loop (class-weighted, label-smoothed cross-entropy,
  AdamW with a warm-up schedule, dynamic padding, optional frozen word embeddings) that evaluates on the validation
  split after each epoch and can keep the best epoch or stop early on validation macro F1.

Speed on a 2-core CPU is the main design constraint: multilingual-e5-small's 250k x 384 word-embedding matrix is
96M of its 118M parameters, and stepping it with AdamW each batch is most of the cost, so it is frozen by default
(the tokens of a few hundred short queries cover a tiny part of it anyway); the optimiser is PyTorch's fused AdamW;
``trainable_layers`` trains only the top layers and computes the frozen bottom once per text
(:mod:`llm_router.train.layer_cache`); batches are padded dynamically to their longest text.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import re
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llm_router.errors import RouterError
from llm_router.train.config import TrainConfig
from llm_router.train.layer_cache import (
    compute_bottom_states,
    freeze_bottom,
    frozen_bottom,
    num_layers,
    pad_states,
    top_layers_only,
)

ROUTER_FORMAT = "llm-router/1"
TARGET = "target"  # working column: the label the model is trained on (route, or intent with a route map)

# Config attributes that hold dropout probabilities, per architecture family; `--dropout` sets every one of them
# that a model's config has.
DROPOUT_ATTRS = {
    "bert": ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"),  # + XLM-R, MPNet
    "distilbert": ("dropout", "attention_dropout", "seq_classif_dropout"),
    "modernbert": ("embedding_dropout", "attention_dropout", "mlp_dropout", "classifier_dropout"),
}


# ------------------------------------------------------------------------------------------------ models
def model_profile(name: str):
    """Prefix / max length of a model, from the shared model-profile table in :mod:`llm_router.models`."""
    from llm_router.models import model_profile as shared_profile

    return shared_profile(name)


def resolve_model(name: str) -> str:
    """A local folder for ``name`` (:func:`llm_router.models.resolve`: a folder as is, the HF cache, offline
    conversions, or a download when the hub is reachable)."""
    from llm_router.models import resolve

    return str(resolve(name))


def set_threads(threads: int | None) -> int:
    import torch

    n = threads or min(2, os.cpu_count() or 1)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def set_seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence the 'newly initialized weights' notes and similar chatter while loading models."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(level)


def load_classifier(config: TrainConfig, labels: Sequence[str], path: str | None = None):
    """(model, tokenizer) for ``config.model`` (or the folder ``path``, e.g. a SetFit body) with a fresh
    classification head over ``labels``."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from llm_router.utils import load_tokenizer

    path = path or resolve_model(config.model)
    with quiet_transformers():
        try:
            tokenizer = load_tokenizer(path)
            model_config = AutoConfig.from_pretrained(
                path,
                num_labels=len(labels),
                id2label=dict(enumerate(labels)),
                label2id={label: i for i, label in enumerate(labels)},
            )
        except (OSError, ValueError) as exc:
            raise RouterError(f"cannot load model {config.model!r}: {str(exc).splitlines()[0]}") from None
        if config.dropout is not None:
            for attr in {a for attrs in DROPOUT_ATTRS.values() for a in attrs}:
                if hasattr(model_config, attr):
                    setattr(model_config, attr, config.dropout)
        model = AutoModelForSequenceClassification.from_pretrained(path, config=model_config)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


# ------------------------------------------------------------------------------------------- targets, maps
@dataclass
class Targets:
    """What the model outputs (``labels``) and how they become routes."""

    labels: list[str]
    routes: list[str]
    route_map: dict[str, str] | None = None
    label_col: str = "label"  # the column the labels come from ("label" = the routes themselves)
    route_map_conflicts: dict[str, dict[str, int]] = field(
        default_factory=dict
    )  # auto map: labels seen with >1 route


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


# -------------------------------------------------------------------------------------------- prediction
def predict_proba(
    model, tokenizer, texts: Sequence[str], text_prefix: str = "", max_length: int = 64, batch_size: int = 64
) -> np.ndarray:
    """Softmax probabilities [n, num_labels]; texts are length-sorted into batches (little padding)."""
    import torch

    texts = [text_prefix + str(t) for t in texts]
    if not texts:
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    was_training = model.training
    accepted = model_inputs(model)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            enc = {k: v for k, v in enc.items() if k in accepted}
            out[idx] = torch.softmax(model(**enc).logits.float(), -1).numpy()
    model.train(was_training)
    return out


# ------------------------------------------------------------------------------------------------- fitting
@dataclass
class FitResult:
    """A trained model in memory, with what it needs to predict."""

    model: Any
    tokenizer: Any
    targets: Targets
    text_prefix: str
    max_length: int
    history: list[dict]
    best_epoch: int
    seconds: float
    train_rows: int  # after augmentation / over-sampling

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Probabilities over ``targets.labels``."""
        return predict_proba(self.model, self.tokenizer, texts, self.text_prefix, self.max_length, batch_size)

    def predict_routes(self, texts: Sequence[str], batch_size: int = 64) -> tuple[list[str], np.ndarray]:
        from llm_router.eval.metrics import routes_from_labels

        probs = routes_from_labels(
            self.predict_proba(texts, batch_size),
            self.targets.labels,
            self.targets.route_map,
            self.targets.routes,
        )
        return [self.targets.routes[i] for i in probs.argmax(1)], probs


class _Bar:
    """A rich progress task (or nothing): `advance`, `reset(total, description)`."""

    def __init__(self, progress=None, description: str = "", total: int | None = None):
        self.progress = progress
        self.task = progress.add_task(description, total=total, info="") if progress is not None else None

    def reset(self, total: int, description: str) -> None:
        if self.progress is not None:
            self.progress.reset(self.task, total=total, description=description)

    def advance(self, n: int = 1, **fields) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=n, **fields)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.remove_task(self.task)


def make_progress(enabled: bool = True, transient: bool = False):
    """A rich Progress (steps, elapsed, remaining) or a null context when disabled."""
    if not enabled:
        return contextlib.nullcontext(None)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        transient=transient,
    )


_LAYER_INDEX = re.compile(r"\.(?:layer|layers)\.(\d+)\.")


def _param_groups(model, config: TrainConfig) -> list[dict]:
    """Body vs head learning rates, layer-wise decay (``layer_lr_decay``: layer i of n gets
    ``lr * decay ** (n - i)``, the embeddings ``decay ** (n + 1)``); no weight decay on biases and norms."""
    prefix = getattr(model, "base_model_prefix", "") + "."
    head_lr = config.head_learning_rate or config.learning_rate
    n_layers = num_layers(model) or 0
    groups: dict[tuple[float, bool], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if not name.startswith(prefix):
            lr = head_lr
        elif config.layer_lr_decay == 1.0:
            lr = config.learning_rate
        else:
            match = _LAYER_INDEX.search(name)
            if match:
                depth = n_layers - int(match.group(1))
            elif "embed" in name:
                depth = n_layers + 1
            else:  # pooler, final norm: on top of the last layer
                depth = 0
            lr = config.learning_rate * config.layer_lr_decay**depth
        no_decay = param.ndim < 2 or "norm" in name.lower()
        groups.setdefault((lr, no_decay), []).append(param)
    return [
        {"params": params, "lr": lr, "weight_decay": 0.0 if no_decay else config.weight_decay}
        for (lr, no_decay), params in groups.items()
    ]


def _optimizer(params: list[dict], config: TrainConfig):
    import torch

    # fused: one kernel over all parameters (much faster than the per-tensor loop on CPU)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.learning_rate, fused=True)
    if config.optimizer == "adam":
        return torch.optim.Adam(
            [{**g, "weight_decay": 0.0} for g in params], lr=config.learning_rate, fused=True
        )
    return torch.optim.SGD(params, lr=config.learning_rate, momentum=0.9)


def _scheduler(optimizer, config: TrainConfig, total_steps: int):
    from transformers import get_scheduler

    name = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}[config.scheduler]
    return get_scheduler(
        name,
        optimizer,
        num_warmup_steps=int(config.warmup_ratio * total_steps),
        num_training_steps=total_steps,
    )


def pad_batch(features: list[dict[str, list[int]]], pad_token_id: int) -> dict:
    """Right-pad tokenised examples to the longest in the batch (dynamic padding) as torch tensors."""
    import torch

    width = max(len(f["input_ids"]) for f in features)
    batch = {}
    for key in features[0]:
        fill = pad_token_id if key == "input_ids" else 0
        batch[key] = torch.tensor(
            [f[key] + [fill] * (width - len(f[key])) for f in features], dtype=torch.long
        )
    return batch


def freeze_word_embeddings(model) -> int:
    """Stop gradients into the input word-embedding matrix; returns how many parameters that froze."""
    emb = model.get_input_embeddings()
    emb.weight.requires_grad_(False)
    return emb.weight.numel()


def warm_up_head(model, features, y, weight_t, config: TrainConfig, pad_token_id: int) -> list[float]:
    """Linear probing before fine-tuning (LP-FT): train only what sits above the last layer (pooler, head) for
    ``head_warmup_epochs`` on the frozen encoder's cached output, so fine-tuning starts from a sensible head
    instead of a random one. Cheap: the encoder runs once. Returns the per-epoch losses."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    n = num_layers(model)
    if n is None:
        return []
    states = compute_bottom_states(model, features, n, pad_token_id, config.eval_batch_size)
    params = [
        p
        for name, p in model.named_parameters()
        if p.requires_grad and not _LAYER_INDEX.search(name) and "embed" not in name
    ]
    optimizer = torch.optim.AdamW(params, lr=config.head_warmup_lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed + 1)
    losses = []
    model.train()
    with top_layers_only(model, n) as stub:
        for _ in range(config.head_warmup_epochs):
            epoch_losses = []
            for idx in torch.randperm(len(features), generator=generator).split(config.batch_size):
                idx = idx.tolist()
                batch = pad_batch([features[i] for i in idx], pad_token_id)
                stub.states = pad_states([states[i] for i in idx], batch["input_ids"].shape[1])
                loss = F.cross_entropy(
                    model(**batch).logits, y[idx], weight=weight_t, label_smoothing=config.label_smoothing
                )
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                epoch_losses.append(float(loss.detach()))
            losses.append(float(np.mean(epoch_losses)))
    return losses


def fit(
    train_df: pd.DataFrame,
    val_df: pd.DataFrame | None,
    config: TrainConfig,
    targets: Targets,
    *,
    exclude_texts: Sequence[str] = (),
    progress=None,
    init_from: str | None = None,
) -> FitResult:
    """Train on ``train_df`` (columns text, label, target), validating on ``val_df`` after each epoch.

    ``exclude_texts``: texts augmentation must never produce (the validation and test texts). ``progress``: a rich
    Progress to report steps to (or None). ``init_from``: a folder to start from instead of ``config.model``
    (whose profile - prefix, max length - still applies)."""
    if config.method == "setfit" and init_from is None:
        from llm_router.train.setfit import fit_setfit

        return fit_setfit(train_df, val_df, config, targets, exclude_texts=exclude_texts, progress=progress)
    import torch
    import torch.nn.functional as F  # noqa: N812

    start = time.perf_counter()
    set_threads(config.threads)
    set_seed(config.seed)
    profile = model_profile(config.model)
    text_prefix, max_length = profile.text_prefix, config.max_length or profile.max_length
    model, tokenizer = load_classifier(config, targets.labels, init_from)
    if config.freeze_embeddings:
        freeze_word_embeddings(model)
    frozen = frozen_bottom(model, config.trainable_layers)
    if frozen:
        freeze_bottom(model, frozen)

    rows = training_rows(train_df, config, exclude_texts=exclude_texts)
    label_index = {label: i for i, label in enumerate(targets.labels)}
    y = torch.tensor([label_index[t] for t in rows[TARGET]], dtype=torch.long)
    encode = partial(
        _tokenize, tokenizer, text_prefix=text_prefix, max_length=max_length, keep=model_inputs(model)
    )
    features = encode(rows["text"])
    has_val = val_df is not None and len(val_df) > 0
    val_features = encode(val_df["text"]) if has_val else []
    states = val_states = None
    if frozen:  # the frozen bottom's output, computed once
        states = compute_bottom_states(
            model, features, frozen, tokenizer.pad_token_id, config.eval_batch_size
        )
        if has_val:
            val_states = compute_bottom_states(
                model, val_features, frozen, tokenizer.pad_token_id, config.eval_batch_size
            )
    weights = route_class_weights(train_df, config, targets)
    weight_t = None if weights is None else torch.tensor(weights, dtype=torch.float32)

    steps_per_epoch = (len(rows) + config.batch_size - 1) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    trainable = [p for p in model.parameters() if p.requires_grad]
    keep_best = has_val and (config.select_best_epoch or config.early_stopping_patience > 0)
    bar = _Bar(progress, f"train {Path(str(config.model)).name}", total_steps * config.soup)

    def forward(batch_features, batch_states, stub):
        batch = pad_batch(batch_features, tokenizer.pad_token_id)
        if stub is not None:
            stub.states = pad_states(batch_states, batch["input_ids"].shape[1])
        return model(**batch).logits

    def val_label_probs(stub) -> np.ndarray:
        model.eval()
        out = np.zeros((len(val_features), len(targets.labels)), dtype=np.float32)
        order = np.argsort([len(f["input_ids"]) for f in val_features], kind="stable")
        with torch.inference_mode():
            for s in range(0, len(order), config.eval_batch_size):
                idx = order[s : s + config.eval_batch_size]
                logits = forward(
                    [val_features[i] for i in idx],
                    None if val_states is None else [val_states[i] for i in idx],
                    stub,
                )
                out[idx] = torch.softmax(logits.float(), -1).numpy()
        model.train()
        return out

    def train_member(member: int) -> tuple[list[dict], int]:
        """One fine-tuning run from the current parameters; member > 0 only changes the order and dropout."""
        member_seed = config.seed + 1000 * member
        torch.manual_seed(member_seed)
        if config.head_warmup_epochs:
            warm_up_head(model, features, y, weight_t, config, tokenizer.pad_token_id)
        optimizer = _optimizer(_param_groups(model, config), config)
        scheduler = _scheduler(optimizer, config, total_steps)
        generator = torch.Generator().manual_seed(member_seed)
        history: list[dict] = []
        best_f1, best_epoch, best_state, stale = -1.0, config.epochs, None, 0
        model.train()
        with top_layers_only(model, frozen) if frozen else contextlib.nullcontext() as stub:
            for epoch in range(1, config.epochs + 1):
                epoch_start, losses = time.perf_counter(), []
                perm = torch.randperm(len(rows), generator=generator).tolist()
                for s in range(0, len(perm), config.batch_size):
                    idx = perm[s : s + config.batch_size]
                    logits = forward(
                        [features[i] for i in idx], None if states is None else [states[i] for i in idx], stub
                    )
                    loss = F.cross_entropy(
                        logits, y[idx], weight=weight_t, label_smoothing=config.label_smoothing
                    )
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    losses.append(float(loss.detach()))
                    bar.advance(info=f"epoch {epoch} loss {np.mean(losses):.3f}")
                row = {
                    "epoch": epoch,
                    "train_loss": float(np.mean(losses)),
                    "val_macro_f1": None,
                    "val_accuracy": None,
                    "lr": float(max(scheduler.get_last_lr())),
                    "seconds": round(time.perf_counter() - epoch_start, 2),
                }
                if config.soup > 1:
                    row["member"] = member
                if has_val:
                    row.update(_route_scores(val_label_probs(stub), val_df["label"].tolist(), targets))
                history.append(row)
                if not has_val:
                    continue
                if row["val_macro_f1"] > best_f1 + 1e-9:
                    best_f1, best_epoch, stale = row["val_macro_f1"], epoch, 0
                    if keep_best:  # by parameter object: names change while only the top layers are mounted
                        best_state = [(p, p.detach().clone()) for p in trainable]
                else:
                    stale += 1
                    if config.early_stopping_patience and stale >= config.early_stopping_patience:
                        break
        if keep_best and best_state is not None:
            with torch.no_grad():
                for param, saved in best_state:
                    param.copy_(saved)
        else:
            best_epoch = len(history)
        return history, best_epoch

    if config.soup == 1:
        history, best_epoch = train_member(0)
    else:  # a uniform "model soup": members from the same start, their trained parameters averaged
        start_state = [p.detach().clone() for p in trainable]
        total = [torch.zeros_like(p) for p in trainable]
        history, best_epochs = [], []
        for member in range(config.soup):
            with torch.no_grad():
                for param, saved in zip(trainable, start_state, strict=True):
                    param.copy_(saved)
            member_history, member_best = train_member(member)
            history += member_history
            best_epochs.append(member_best)
            for acc, param in zip(total, trainable, strict=True):
                acc += param.detach()
        with torch.no_grad():
            for param, acc in zip(trainable, total, strict=True):
                param.copy_(acc / config.soup)
        best_epoch = int(round(float(np.mean(best_epochs))))
        if has_val:
            with top_layers_only(model, frozen) if frozen else contextlib.nullcontext() as stub:
                scores = _route_scores(val_label_probs(stub), val_df["label"].tolist(), targets)
            history.append({"epoch": config.epochs, "member": "soup", "train_loss": None, **scores})
    bar.close()
    model.eval()
    return FitResult(
        model,
        tokenizer,
        targets,
        text_prefix,
        max_length,
        history,
        best_epoch,
        time.perf_counter() - start,
        len(rows),
    )


def model_inputs(model) -> set[str]:
    """The tokenizer outputs this model's forward accepts (ModernBERT, DistilBERT take no token_type_ids)."""
    import inspect

    return set(inspect.signature(model.forward).parameters)


def _tokenize(
    tokenizer, texts, text_prefix: str, max_length: int, keep: set[str] | None = None
) -> list[dict[str, list[int]]]:
    enc = tokenizer([text_prefix + str(t) for t in texts], truncation=True, max_length=max_length)
    keys = [k for k in enc if keep is None or k in keep]
    return [{k: enc[k][i] for k in keys} for i in range(len(enc["input_ids"]))]


def _route_scores(label_probs: np.ndarray, true_routes: list[str], targets: Targets) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    from llm_router.eval.metrics import routes_from_labels

    route_probs = routes_from_labels(label_probs, targets.labels, targets.route_map, targets.routes)
    pred = [targets.routes[i] for i in route_probs.argmax(1)]
    return {
        "val_macro_f1": float(
            f1_score(true_routes, pred, labels=targets.routes, average="macro", zero_division=0)
        ),
        "val_accuracy": float(accuracy_score(true_routes, pred)),
    }


# ------------------------------------------------------------------------------------------------ training
@dataclass
class TrainResult:
    out_dir: Path
    metrics: dict
    history: list[dict]
    config: TrainConfig
    targets: Targets
    split_sizes: dict[str, int]
    seconds: float


def resolved_config(config: TrainConfig, targets: Targets) -> TrainConfig:
    """``config`` with ``train_label_col="auto"`` replaced by what it resolved to (what train_config.json keeps)."""
    if config.train_label_col != "auto":
        return config
    if targets.label_col == "label":
        return dataclasses.replace(config, train_label_col="label", route_map=None)
    return dataclasses.replace(
        config, train_label_col=targets.label_col, route_map=config.route_map or "auto"
    )


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
    from llm_router.utils import atomic_write_json

    fitted.model.save_pretrained(out)
    fitted.tokenizer.save_pretrained(out)
    targets = fitted.targets
    atomic_write_json(
        out / "router.json",
        {
            "format": ROUTER_FORMAT,
            "kind": "hf",
            "labels": targets.labels,
            "routes": targets.routes,
            "route_map": targets.route_map,
            "text_prefix": fitted.text_prefix,
            "max_length": fitted.max_length,
            "base_model": config.model,
            "onnx_file": None,
            "data": data,
            "created_by": created_by,
        },
    )
    atomic_write_json(out / "split.json", split)
    atomic_write_json(out / "train_config.json", config.to_dict())
    atomic_write_json(out / "history.json", fitted.history)
    training_curves_png(fitted.history, out / "training_curves.png", title=Path(str(config.model)).name)
    if metrics is not None:
        atomic_write_json(out / "metrics.json", metrics)
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

    config = config or TrainConfig()
    start = time.perf_counter()
    df, targets = prepare_targets(df, config)
    config = resolved_config(config, targets)
    split = split_dataset(df, test_size=config.test_size, val_size=config.val_size, seed=config.seed)
    if split.train["label"].nunique() < 2:
        raise RouterError("the training split has fewer than two classes: add data or lower --test-size")
    exclude = list(split.val["text"]) + list(split.test["text"])
    with make_progress(progress) as prog:
        fitted = fit(split.train, split.val, config, targets, exclude_texts=exclude, progress=prog)
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
        "group_col": None,
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


# -------------------------------------------------------------------------------------------- cross-validation
def _inner_val_split(train_df: pd.DataFrame, config: TrainConfig, fold_seed: int):
    """A validation part carved out of a CV fold's training part, when the config uses one."""
    from sklearn.model_selection import train_test_split

    wants_val = config.val_size > 0 and (config.select_best_epoch or config.early_stopping_patience > 0)
    if not wants_val:
        return train_df, None
    frac = config.val_size / (1 - config.test_size)
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
    from llm_router.eval.metrics import classification_report

    config = config or TrainConfig()
    start, cpu_start = time.perf_counter(), time.process_time()
    dropped = 0
    if dedup_first:
        df, report = dedup(df)
        dropped = report.dropped_rows
    df, targets = prepare_targets(df.reset_index(drop=True), config)
    splits = kfold_splits(df, folds=folds, repeats=repeats, seed=config.seed)
    rows, oof_pred = [], [None] * len(df)
    oof_probs = np.zeros((len(df), len(targets.routes)))
    with make_progress(progress) as prog:
        selected = [k for k in range(len(splits)) if only_folds is None or k in set(only_folds)]
        fold_bar = _Bar(prog, "cross-validation", len(selected))
        for k in selected:
            tr_idx, te_idx = splits[k]
            fold_cpu = time.process_time()
            tr_df, te_df = df.iloc[tr_idx].reset_index(drop=True), df.iloc[te_idx].reset_index(drop=True)
            tr_df, va_df = _inner_val_split(tr_df, config, config.seed + k)
            exclude = list(te_df["text"]) + ([] if va_df is None else list(va_df["text"]))
            fitted = fit(tr_df, va_df, config, targets, exclude_texts=exclude, progress=prog)
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
            rows.append(row)
            if k < folds:
                for j, i in enumerate(te_idx):
                    oof_pred[i] = pred[j]
                oof_probs[te_idx] = probs
            fold_bar.advance(info=f"fold {k + 1}: macro F1 {row['macro_f1']:.3f}")
            if fold_callback is not None:
                fold_callback(k, row)
            del fitted
    result: dict[str, Any] = {"folds": folds, "repeats": repeats, "n": len(df), "duplicates_dropped": dropped}
    for key in ("macro_f1", "accuracy", "weighted_f1"):
        values = np.array([r[key] for r in rows])
        result[f"{key}_mean"] = float(values.mean())
        result[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    result["oof"] = None
    if all(p is not None for p in oof_pred):  # every fold of the first repeat ran: pooled out-of-fold metrics
        oof = classification_report(
            df["label"].tolist(),
            oof_pred,
            targets.routes,
            probs=oof_probs,
            texts=df["text"].tolist(),
            seed=config.seed,
        )
        keep = (
            "macro_f1",
            "macro_f1_ci95",
            "accuracy",
            "weighted_f1",
            "per_class",
            "confusion_matrix",
            "labels",
        )
        result["oof"] = {k: oof[k] for k in keep}
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


# -------------------------------------------------------------------------------------------------- printing
def print_train_result(result: TrainResult, console) -> None:
    """One summary table of a `router train` run."""
    from rich.table import Table

    m = result.metrics
    table = Table(title=f"router train -> {result.out_dir}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    cfg = result.config
    table.add_row("model", f"{cfg.model} ({cfg.method})")
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
