"""The fine-tuning loop of ``--method finetune`` (and of SetFit's second stage): a plain PyTorch loop
(class-weighted, label-smoothed cross-entropy, AdamW with a warm-up schedule, dynamic padding, optional frozen word
embeddings, optional LP-FT head warm-up and model soup) that evaluates on the validation split after each epoch and
can keep the best epoch or stop early on validation macro F1.

Speed on a 2-core CPU is the main design constraint: multilingual-e5-small's 250k x 384 word-embedding matrix is
96M of its 118M parameters, and stepping it with AdamW each batch is most of the cost, so it is frozen by default
(the tokens of a few hundred short queries cover a tiny part of it anyway); the optimiser is PyTorch's fused AdamW;
``trainable_layers`` trains only the top layers and computes the frozen bottom once per text
(:mod:`llm_router.train.layer_cache`); batches are padded dynamically to their longest text.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
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
    advance_states,
    compute_bottom_states,
    freeze_bottom,
    frozen_bottom,
    pad_batch,
    pad_states,
    top_layers_only,
)
from llm_router.train.targets import TARGET, Targets, route_class_weights, training_rows
from llm_router.utils.budget import EpochBudget, decay_to_zero
from llm_router.utils.early_stopping import EarlyStopping
from llm_router.utils.layers import keep_config_layers, layer_index, num_layers
from llm_router.utils.probs import routes_from_labels
from llm_router.utils.progress import Bar
from llm_router.utils.seeding import set_seed, set_threads

# Config attributes that hold dropout probabilities, per architecture family; `--dropout` sets every one of them
# that a model's config has.
DROPOUT_ATTRS = {
    "bert": ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"),  # + XLM-R, MPNet
    "distilbert": ("dropout", "attention_dropout", "seq_classif_dropout"),
    "modernbert": ("embedding_dropout", "attention_dropout", "mlp_dropout", "classifier_dropout"),
}


# ------------------------------------------------------------------------------------------------ models
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

    from llm_router.models import resolve
    from llm_router.utils import load_tokenizer

    path = path or str(resolve(config.model))
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
        _keep_first_layers(model_config, config.encoder_layers)
        if config.dropout is not None:
            for attr in {a for attrs in DROPOUT_ATTRS.values() for a in attrs}:
                if hasattr(model_config, attr):
                    setattr(model_config, attr, config.dropout)
        model = AutoModelForSequenceClassification.from_pretrained(path, config=model_config)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _keep_first_layers(model_config, encoder_layers: int | None) -> None:
    """``--encoder-layers K``: the config asks for K layers, so loading the weights keeps the encoder's first K
    (the rest are left unread)."""
    if encoder_layers is None:
        return
    have = getattr(model_config, "num_hidden_layers", None)
    if have is None:
        raise RouterError(f"--encoder-layers: {model_config.model_type!r} configs name no layer count")
    if encoder_layers > have:
        raise RouterError(f"--encoder-layers {encoder_layers}: the encoder has only {have} layers")
    keep_config_layers(model_config, list(range(encoder_layers)))


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
    config: Any = None  # the configuration as trained: every "auto" field decided (llm_router.train.recipe)
    recipe: list = field(default_factory=list)  # the recipe's choices (llm_router.train.recipe.Choice)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Probabilities over ``targets.labels``."""
        return predict_proba(self.model, self.tokenizer, texts, self.text_prefix, self.max_length, batch_size)

    def predict_routes(self, texts: Sequence[str], batch_size: int = 64) -> tuple[list[str], np.ndarray]:
        probs = routes_from_labels(
            self.predict_proba(texts, batch_size),
            self.targets.labels,
            self.targets.route_map,
            self.targets.routes,
        )
        return [self.targets.routes[i] for i in probs.argmax(1)], probs


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
            index = layer_index(name)
            if index is not None:
                depth = n_layers - index
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


def freeze_word_embeddings(model) -> int:
    """Stop gradients into the input word-embedding matrix; returns how many parameters that froze."""
    emb = model.get_input_embeddings()
    emb.weight.requires_grad_(False)
    return emb.weight.numel()


def warm_up_head(
    model, features, y, weight_t, config: TrainConfig, pad_token_id: int, cached: tuple | None = None
) -> list[float]:
    """Linear probing before fine-tuning (LP-FT): train only what sits above the last layer (pooler, head) for
    ``head_warmup_epochs`` on the frozen encoder's cached output, so fine-tuning starts from a sensible head
    instead of a random one. Cheap: the encoder runs once - only its top layers when ``cached`` = (states after
    layer k, k) holds the frozen bottom's output already. Returns the per-epoch losses."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    n = num_layers(model)
    if n is None:
        return []
    if cached is not None and cached[0] is not None:
        states = advance_states(
            model, features, cached[0], cached[1], None, pad_token_id, config.eval_batch_size
        )
    else:
        states = compute_bottom_states(model, features, n, pad_token_id, config.eval_batch_size)
    params = [
        p
        for name, p in model.named_parameters()
        if p.requires_grad and layer_index(name) is None and "embed" not in name
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


def fit_finetune(
    train_df: pd.DataFrame,
    val_df: pd.DataFrame | None,
    config: TrainConfig,
    targets: Targets,
    *,
    exclude_texts: Sequence[str] = (),
    progress=None,
    init_from: str | None = None,
    started_at: float | None = None,
    predict_after: int = 0,
) -> FitResult:
    """Train on ``train_df`` (columns text, label, target), validating on ``val_df`` after each epoch.

    ``exclude_texts``: texts augmentation must never produce (the validation and test texts). ``progress``: a rich
    Progress to report steps to (or None). ``init_from``: a folder to start from instead of ``config.model``
    (whose profile - prefix, max length - still applies). The time budget (``config.time_budget_s``) counts from
    ``started_at`` (a ``time.perf_counter()`` value; default: now) and keeps time for ``predict_after`` texts to be
    predicted after training (the caller's test split)."""
    start = time.perf_counter()
    set_threads(config.threads)
    set_seed(config.seed)
    run = _FinetuneRun(train_df, val_df, config, targets, exclude_texts, init_from)
    if config.time_budget_s:
        run.fit_to_budget(start if started_at is None else started_at, predict_after)
    run.bar = Bar(progress, f"train {Path(str(config.model)).name}", run.total_steps * config.soup)
    # soup > 1: a uniform "model soup" - members from the same start, their trained parameters averaged
    history, best_epoch = run.train_member(0) if config.soup == 1 else run.soup()
    run.bar.close()
    run.model.eval()
    return FitResult(
        run.model,
        run.tokenizer,
        targets,
        run.text_prefix,
        run.max_length,
        history,
        best_epoch,
        time.perf_counter() - start,
        len(run.rows),
        run.config,
        run.choices,
    )


class _FinetuneRun:
    """The state of one :func:`fit_finetune` call, built in named steps: the model (:meth:`_load_model`), the
    tokenised rows (:meth:`_encode_rows`), the frozen bottom's cached output (:meth:`_cache_bottom`); then trained
    member by member (:meth:`train_member`, :meth:`soup`), one epoch at a time (:meth:`_epoch`)."""

    def __init__(self, train_df, val_df, config: TrainConfig, targets: Targets, exclude_texts, init_from):
        import torch

        self.config, self.targets, self.val_df = config, targets, val_df
        self.bar = Bar()
        self._load_model(init_from)
        self._encode_rows(train_df, exclude_texts)
        self._cache_bottom()
        weights = route_class_weights(train_df, config, targets)
        self.weight_t = None if weights is None else torch.tensor(weights, dtype=torch.float32)
        self.steps_per_epoch = (len(self.rows) + config.batch_size - 1) // config.batch_size
        self.total_steps = self.steps_per_epoch * config.epochs
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.keep_best = self.has_val and (config.select_best_epoch or config.early_stopping_patience > 0)
        self.choices: list = []  # the time budget's decisions (llm_router.train.recipe.Choice)
        self.deadline: float | None = None  # perf_counter() by which training must end (None = no budget)

    def fit_to_budget(self, start: float, predict_after: int = 0) -> None:
        """Plan the run to end within ``config.time_budget_s`` of ``start``, keeping time for ``predict_after``
        texts to be predicted afterwards (:class:`TrainingCost`): fewer epochs, and fewer trained layers when fewer
        than ``MIN_BUDGET_EPOCHS`` epochs would fit. The decisions land in ``self.choices``; ``self.deadline``
        lets :meth:`replan` shorten the plan after each epoch from the epochs' measured time."""
        from llm_router.train.recipe import MIN_BUDGET_EPOCHS, epochs_within_budget, layers_within_budget

        config = self.config
        if len(self.features) == 0:
            return
        cost = self.measure_cost(predict_after)
        self.deadline = start + config.time_budget_s - cost.after_s
        want = min(config.epochs, MIN_BUDGET_EPOCHS)
        # fewer layers until `want` epochs fit, each trim checked by a new probe (the cost of a step does not
        # fall in proportion to the layers: the head, padding and the optimiser stay)
        while self.layers_trained() > 1:
            layers = self.layers_trained()
            if cost.epochs_that_fit(self.deadline - time.perf_counter(), layers, config.soup) >= want:
                break
            trim = layers_within_budget(config, cost, self.deadline - time.perf_counter(), layers, want)
            self.train_top_layers(trim.value)
            self.choices.append(trim)
            cost = self.measure_cost(predict_after)
        layers = self.layers_trained()
        left = self.deadline - time.perf_counter() - cost.fixed_s(layers)
        choice = epochs_within_budget(config, left, cost.epoch_s(layers))
        if choice is not None:
            self.config = dataclasses.replace(self.config, epochs=choice.value)
            self.total_steps = self.steps_per_epoch * choice.value
            self.choices.append(choice)

    def measure_cost(self, predict_after: int, probes: int = 3) -> TrainingCost:
        """Time ``probes`` training steps (forward, backward, optimiser-free) on different random full batches,
        after an untimed one, and scale them by padded tokens to an epoch of this run's texts. The probe runs in
        training mode (dropout makes a step about twice as slow as in eval mode on CPU); its gradients are
        discarded and the random state is restored: the model and the run are unchanged."""
        import torch
        import torch.nn.functional as F  # noqa: N812

        config = self.config
        lengths = [len(f["input_ids"]) for f in self.features]
        generator = torch.Generator().manual_seed(config.seed)
        order = torch.randperm(len(self.features), generator=generator).tolist()
        seconds = slots = 0.0
        rng_state, was_training = torch.get_rng_state(), self.model.training
        self.model.train()
        with self.mounted() as stub:
            for probe in range(probes + 1):
                idx = [order[(probe * config.batch_size + i) % len(order)] for i in range(config.batch_size)]
                t0 = time.perf_counter()
                states = None if self.states is None else [self.states[i] for i in idx]
                logits = self.forward([self.features[i] for i in idx], states, stub)
                F.cross_entropy(logits, self.y[idx], weight=self.weight_t).backward()
                if probe:  # the first step warms up and is not timed
                    seconds += time.perf_counter() - t0
                    slots += len(idx) * max(lengths[i] for i in idx)
        self.model.zero_grad(set_to_none=True)
        self.model.train(was_training)
        torch.set_rng_state(rng_state)
        return TrainingCost(
            step_s_per_slot=seconds / slots,
            layers=self.layers_trained(),
            total_layers=num_layers(self.model) or self.layers_trained(),
            epoch_slots=epoch_slots(lengths, config.batch_size, config.seed),
            val_tokens=sum(len(f["input_ids"]) for f in self.val_features),
            train_tokens=sum(lengths),
            after_tokens=predict_after * float(np.mean(lengths)),
            head_warmup=config.head_warmup_epochs > 0,
        )

    def layers_trained(self) -> int:
        """How many encoder layers a training step runs (all of them when nothing is frozen)."""
        n = num_layers(self.model) or 1
        return n - self.frozen

    def train_top_layers(self, k: int) -> None:
        """Freeze more of the bottom so that only the top ``k`` layers train; the cache is carried upwards."""
        n = num_layers(self.model)
        new_frozen = n - k
        pad_id, batch = self.tokenizer.pad_token_id, self.config.eval_batch_size

        def deeper(features, states):
            if states is None:
                return compute_bottom_states(self.model, features, new_frozen, pad_id, batch)
            return advance_states(self.model, features, states, self.frozen, new_frozen, pad_id, batch)

        self.states = deeper(self.features, self.states)
        if self.has_val:
            self.val_states = deeper(self.val_features, self.val_states)
        freeze_bottom(self.model, new_frozen)
        self.frozen = new_frozen
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.config = dataclasses.replace(self.config, trainable_layers=k)

    def replan(self, epoch: int, seconds: float, optimizer, scheduler):
        """After ``epoch`` (which took ``seconds``): fewer epochs when the rest would overrun the budget's deadline
        (:class:`llm_router.utils.budget.EpochBudget`). Returns the scheduler to use from now on."""
        from llm_router.train.recipe import Choice

        reason = self.epoch_budget.after_epoch(epoch, seconds)
        if reason is None:
            return scheduler
        self.config = dataclasses.replace(self.config, epochs=self.epoch_budget.planned)
        self.choices.append(Choice("epochs", self.epoch_budget.planned, f"time budget: {reason}"))
        return decay_to_zero(optimizer, (self.epoch_budget.planned - epoch) * self.steps_per_epoch)

    def _load_model(self, init_from: str | None) -> None:
        """The classifier with a fresh head; word embeddings and the bottom layers frozen as configured."""
        from llm_router.models import model_profile

        config = self.config
        profile = model_profile(config.model)
        self.text_prefix, self.max_length = profile.text_prefix, config.max_length or profile.max_length
        self.model, self.tokenizer = load_classifier(config, self.targets.labels, init_from)
        if config.freeze_embeddings:
            freeze_word_embeddings(self.model)
        self.frozen = frozen_bottom(self.model, config.trainable_layers)
        if self.frozen:
            freeze_bottom(self.model, self.frozen)

    def _encode_rows(self, train_df, exclude_texts) -> None:
        """Training rows (augmented, over-sampled), their targets and tokens; the validation tokens."""
        import torch

        self.rows = training_rows(train_df, self.config, exclude_texts=exclude_texts)
        label_index = {label: i for i, label in enumerate(self.targets.labels)}
        self.y = torch.tensor([label_index[t] for t in self.rows[TARGET]], dtype=torch.long)
        encode = partial(
            _tokenize,
            self.tokenizer,
            text_prefix=self.text_prefix,
            max_length=self.max_length,
            keep=model_inputs(self.model),
        )
        self.features = encode(self.rows["text"])
        self.has_val = self.val_df is not None and len(self.val_df) > 0
        self.val_features = encode(self.val_df["text"]) if self.has_val else []

    def _cache_bottom(self) -> None:
        """The frozen bottom's output, computed once per text (None when nothing is frozen)."""
        self.states = self.val_states = None
        if not self.frozen:
            return
        pad_id, batch = self.tokenizer.pad_token_id, self.config.eval_batch_size
        self.states = compute_bottom_states(self.model, self.features, self.frozen, pad_id, batch)
        if self.has_val:
            self.val_states = compute_bottom_states(self.model, self.val_features, self.frozen, pad_id, batch)

    def mounted(self):
        """Only the top layers mounted (on the cached bottom states) when some are frozen; yields the stub."""
        return top_layers_only(self.model, self.frozen) if self.frozen else contextlib.nullcontext()

    def forward(self, batch_features, batch_states, stub):
        batch = pad_batch(batch_features, self.tokenizer.pad_token_id)
        if stub is not None:
            stub.states = pad_states(batch_states, batch["input_ids"].shape[1])
        return self.model(**batch).logits

    def val_label_probs(self, stub) -> np.ndarray:
        import torch

        self.model.eval()
        val_features, val_states, size = self.val_features, self.val_states, self.config.eval_batch_size
        out = np.zeros((len(val_features), len(self.targets.labels)), dtype=np.float32)
        order = np.argsort([len(f["input_ids"]) for f in val_features], kind="stable")
        with torch.inference_mode():
            for s in range(0, len(order), size):
                idx = order[s : s + size]
                logits = self.forward(
                    [val_features[i] for i in idx],
                    None if val_states is None else [val_states[i] for i in idx],
                    stub,
                )
                out[idx] = torch.softmax(logits.float(), -1).numpy()
        self.model.train()
        return out

    def val_scores(self, stub) -> dict:
        return _route_scores(self.val_label_probs(stub), self.val_df["label"].tolist(), self.targets)

    def _epoch(self, epoch: int, member: int, optimizer, scheduler, generator, stub) -> dict:
        """One pass over the training rows; returns the epoch's history row (validation scores included)."""
        import torch
        import torch.nn.functional as F  # noqa: N812

        config, features, states = self.config, self.features, self.states
        epoch_start, losses = time.perf_counter(), []
        perm = torch.randperm(len(self.rows), generator=generator).tolist()
        for s in range(0, len(perm), config.batch_size):
            idx = perm[s : s + config.batch_size]
            logits = self.forward(
                [features[i] for i in idx], None if states is None else [states[i] for i in idx], stub
            )
            loss = F.cross_entropy(
                logits, self.y[idx], weight=self.weight_t, label_smoothing=config.label_smoothing
            )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            self.bar.advance(info=f"epoch {epoch} loss {np.mean(losses):.3f}")
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
        if self.has_val:
            row.update(self.val_scores(stub))
        return row

    def train_member(self, member: int) -> tuple[list[dict], int]:
        """One fine-tuning run from the current parameters; member > 0 only changes the order and dropout."""
        import torch

        config, model = self.config, self.model
        member_seed = config.seed + 1000 * member
        torch.manual_seed(member_seed)
        if config.head_warmup_epochs:
            cached = (self.states, self.frozen)
            warm_up_head(
                model, self.features, self.y, self.weight_t, config, self.tokenizer.pad_token_id, cached
            )
        optimizer = _optimizer(_param_groups(model, config), config)
        scheduler = _scheduler(optimizer, config, self.total_steps)
        generator = torch.Generator().manual_seed(member_seed)
        history: list[dict] = []
        stop, best_state = EarlyStopping(config.early_stopping_patience, best_epoch=config.epochs), None
        epoch = 0
        self.epoch_budget = EpochBudget(self.deadline, self.config.epochs)
        model.train()
        with self.mounted() as stub:
            while epoch < self.config.epochs:  # the budget's re-plan may shorten the run
                epoch, epoch_start = epoch + 1, time.perf_counter()
                row = self._epoch(epoch, member, optimizer, scheduler, generator, stub)
                history.append(row)
                if config.soup == 1:
                    scheduler = self.replan(epoch, time.perf_counter() - epoch_start, optimizer, scheduler)
                if not self.has_val:
                    continue
                if stop.update(row["val_macro_f1"], epoch):
                    # kept by parameter object: names change while only the top layers are mounted
                    if self.keep_best:
                        best_state = [(p, p.detach().clone()) for p in self.trainable]
                elif stop.should_stop:
                    break
        if not (self.keep_best and best_state is not None):
            return history, len(history)
        with torch.no_grad():
            for param, saved in best_state:
                param.copy_(saved)
        return history, stop.best_epoch

    def soup(self) -> tuple[list[dict], int]:
        """``config.soup`` members trained from the same start, their parameters averaged."""
        import torch

        config, trainable = self.config, self.trainable
        start_state = [p.detach().clone() for p in trainable]
        total = [torch.zeros_like(p) for p in trainable]
        history, best_epochs = [], []
        for member in range(config.soup):
            with torch.no_grad():
                for param, saved in zip(trainable, start_state, strict=True):
                    param.copy_(saved)
            member_history, member_best = self.train_member(member)
            history += member_history
            best_epochs.append(member_best)
            for acc, param in zip(total, trainable, strict=True):
                acc += param.detach()
        with torch.no_grad():
            for param, acc in zip(trainable, total, strict=True):
                param.copy_(acc / config.soup)
        best_epoch = int(round(float(np.mean(best_epochs))))
        if self.has_val:
            with self.mounted() as stub:
                scores = self.val_scores(stub)
            history.append({"epoch": config.epochs, "member": "soup", "train_loss": None, **scores})
        return history, best_epoch


@dataclass
class TrainingCost:
    """What the work of a budgeted run costs, from one timed probe: ``step_s_per_slot`` seconds per padded token
    slot of a training step over ``layers`` trained layers. A forward pass costs about a third of a training step,
    and every cost scales with the layers it runs (the cached bottom costs nothing per epoch)."""

    step_s_per_slot: float
    layers: int
    total_layers: int
    epoch_slots: int  # padded token slots of one epoch's training batches
    val_tokens: int
    train_tokens: int
    after_tokens: float  # tokens predicted after training (the test split), by the whole encoder
    head_warmup: bool

    def forward_s_per_token_layer(self) -> float:
        return self.step_s_per_slot / (3 * self.layers)

    def epoch_s(self, layers: int) -> float:
        """One epoch's training steps and validation with ``layers`` trained layers."""
        train = self.step_s_per_slot * self.epoch_slots
        val = self.step_s_per_slot / 3 * self.val_tokens
        return (train + val) * layers / self.layers

    def fixed_s(self, layers: int) -> float:
        """Once per run: LP-FT's pass of the training texts through the trained layers."""
        return self.train_tokens * self.forward_s_per_token_layer() * layers if self.head_warmup else 0.0

    def retrim_s(self, layers: int) -> float:
        """Carrying the cache up to train only ``layers`` layers instead of ``self.layers``."""
        extra = max(0, self.layers - layers)
        return (self.train_tokens + self.val_tokens) * self.forward_s_per_token_layer() * extra

    @property
    def after_s(self) -> float:
        return self.after_tokens * self.forward_s_per_token_layer() * self.total_layers

    def epochs_that_fit(self, seconds_left: float, layers: int, soup: int = 1) -> int:
        return math.floor((seconds_left - self.fixed_s(layers)) / (self.epoch_s(layers) * soup))


def epoch_slots(lengths: Sequence[int], batch_size: int, seed: int) -> int:
    """Padded token slots of one epoch of random batches (each batch is padded to its longest text)."""
    order = np.random.default_rng(seed).permutation(len(lengths))
    lengths = np.asarray(lengths)[order]
    return int(
        sum(
            len(chunk) * chunk.max()
            for chunk in np.array_split(lengths, range(batch_size, len(lengths), batch_size))
        )
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

    route_probs = routes_from_labels(label_probs, targets.labels, targets.route_map, targets.routes)
    pred = [targets.routes[i] for i in route_probs.argmax(1)]
    return {
        "val_macro_f1": float(
            f1_score(true_routes, pred, labels=targets.routes, average="macro", zero_division=0)
        ),
        "val_accuracy": float(accuracy_score(true_routes, pred)),
    }
