"""Knowledge distillation: put a big teacher's accuracy into a student small enough to serve in ~1 ms.

``distill(teacher_dir, out_dir, DistillConfig(...))`` builds the student named by ``config.student``
(``layers:K`` | a Hugging Face model | ``static``), trains it on the *transfer set* - the teacher's training texts,
augmented copies and mixed texts made from them (below ``generate_below`` training texts) and any unlabelled
texts, all labelled softly by the teacher (never a validation or test text) - and writes a model folder in the
same format as the teacher (docs/ARTEFACTS.md), with the teacher's ``split.json``, so every artefact is evaluated
on the same held-out rows.

Loss (layer and HF students)::

    alpha * CE(gold)  +  (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))
      + hidden_weight * MSE(student hidden states, mapped teacher hidden states)     # layers:K only
      + attention_weight * MSE(student attention maps, mapped teacher attention maps) # layers:K only

Rows without a gold label (unlabelled texts) get the KD terms only. Teacher logits are computed once for the whole
transfer set; hidden states / attention maps (when their weights are > 0) are computed batch by batch.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llm_router.distill.config import DistillConfig, DistillResult
from llm_router.distill.folder import write_student_files
from llm_router.distill.losses import attention_mse, hidden_mse, hidden_pairs, kd_loss
from llm_router.distill.scoring import (
    _encode,
    _pad_hidden,
    predict_logits,
    route_agreement,
    route_macro_f1,
    route_report,
    teacher_outputs,
)
from llm_router.distill.transfer import TransferSet, build_transfer_set, load_teacher_folder
from llm_router.errors import RouterError
from llm_router.persistence import FolderData
from llm_router.utils import atomic_output_dir
from llm_router.utils.budget import EpochBudget, decay_to_zero
from llm_router.utils.early_stopping import EarlyStopping
from llm_router.utils.probs import softmax
from llm_router.utils.progress import Bar, make_progress
from llm_router.utils.seeding import set_seed, set_threads

HIDDEN_CACHE_BYTES = 3e9  # largest (worst-case) cache of teacher hidden states kept in memory


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


def distill(
    teacher_dir: str | Path, out_dir: str | Path, config: DistillConfig | None = None
) -> DistillResult:
    """Distil the teacher in ``teacher_dir`` into the student ``config.student`` written to ``out_dir``."""
    from llm_router.distill.student import parse_student_spec
    from llm_router.utils.files import check_replaceable

    started = time.perf_counter()
    config = config or DistillConfig()
    check_replaceable(out_dir, keep=[teacher_dir])  # before the teacher's pass and the epochs, not after them
    spec = parse_student_spec(config.student)
    if config.threads:
        set_threads(config.threads)
    set_seed(config.seed)
    teacher_info = load_teacher_folder(teacher_dir, config.data, config.group_col)
    max_length = int(config.max_length or teacher_info.router.get("max_length") or 128)
    transfer = build_transfer_set(teacher_info, config)
    tokenizer, teacher = _load_teacher(teacher_info, config, spec)
    soft = _teacher_pass(teacher, tokenizer, teacher_info, transfer, config, spec, max_length)
    info: dict[str, Any] = {
        "teacher": str(teacher_info.path),
        "student": str(spec),
        "transfer_set": transfer.summary(),
        "teacher_logits_seconds": round(soft.seconds, 2),
        "teacher_transfer_agreement": float(
            (soft.logits.argmax(1)[transfer.gold >= 0] == transfer.gold[transfer.gold >= 0]).mean()
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
            soft.logits,
            soft.test_logits,
            out_dir,
            config,
            info,
        )

    student = _build_student(spec, teacher, tokenizer, teacher_info, transfer, soft, config, max_length, info)
    history, best_state = _train(
        student.model,
        student.tokenizer,
        teacher,
        teacher_info,
        transfer,
        soft.logits,
        config,
        student.prefix,
        max_length,
        student.layer_map,
        student.kept_ids,
        soft.hidden,
        soft.val_logits,
        deadline=started + config.time_budget_s if config.time_budget_s else None,
    )
    if best_state is not None:
        student.model.load_state_dict(best_state)
    student.model.eval()
    best = next((row for row in history if row["best"]), {})  # none without a validation split
    info["select_on"] = config.select_on
    info["epochs_run"] = len(history)
    info["time_budget"] = next((r["time_budget"] for r in reversed(history) if "time_budget" in r), None)
    info["best_epoch"] = best.get("epoch")
    info["best_val_agreement"] = best.get("val_agreement")
    info["best_val_macro_f1"] = best.get("val_macro_f1")
    metrics, teacher_metrics = _score_student(student, teacher, teacher_info, soft, config, max_length, info)
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
        router["text_prefix"] = student.prefix
    with atomic_output_dir(out_dir) as tmp:
        model = student.model
        model.config.id2label = dict(enumerate(teacher_info.labels))
        model.config.label2id = {v: k for k, v in model.config.id2label.items()}
        model.save_pretrained(tmp)
        student.tokenizer.save_pretrained(tmp)
        write_student_files(tmp, teacher_info, router, config, metrics, info, history)
    return DistillResult(Path(out_dir), str(spec), metrics, teacher_metrics, info)


def _load_teacher(teacher_info: FolderData, config: DistillConfig, spec):
    """The teacher's tokenizer and model (eager attention when attention maps are matched), in eval mode."""
    from transformers import AutoModelForSequenceClassification

    from llm_router.utils import load_tokenizer

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
    return tokenizer, teacher


@dataclass
class SoftLabels:
    """The teacher's outputs the student learns from and is compared with."""

    logits: np.ndarray  # on the transfer set
    hidden: list | None  # cached hidden states of the transfer set (layers:K with hidden matching), else None
    test_logits: np.ndarray  # on the test split
    seconds: float  # for the transfer-set pass
    val_logits: np.ndarray | None = None  # on the validation split (what the student's epochs are chosen by)


def _teacher_pass(
    teacher, tokenizer, teacher_info: FolderData, transfer: TransferSet, config, spec, max_length
):
    """The teacher once over the transfer set (logits, and hidden states when they fit in memory) and the test
    split."""
    prefix = teacher_info.text_prefix
    t0 = time.perf_counter()
    hidden_layers = None
    if spec.kind == "layers" and config.hidden_weight > 0:
        from llm_router.distill.student import select_layers

        hidden_layers = hidden_pairs(select_layers(teacher.config.num_hidden_layers, spec.num_layers))[1]
        worst_case = len(transfer.texts) * max_length * len(hidden_layers) * teacher.config.hidden_size * 2
        if worst_case > HIDDEN_CACHE_BYTES:  # too big to cache: the teacher runs on every batch instead
            hidden_layers = None
    logits, hidden = teacher_outputs(
        teacher, tokenizer, transfer.texts, prefix, max_length, config.eval_batch_size, hidden_layers
    )
    seconds = time.perf_counter() - t0
    test_logits, val_logits = (
        predict_logits(teacher, tokenizer, list(part["text"]), prefix, max_length, config.eval_batch_size)
        for part in (teacher_info.test, teacher_info.val)
    )
    return SoftLabels(logits, hidden, test_logits, seconds, val_logits)


@dataclass
class Student:
    """A student built for training: model, tokenizer, text prefix; for ``layers:K`` the teacher layer each
    student layer came from and the kept vocabulary ids (None when the vocabulary was not pruned)."""

    model: Any
    tokenizer: Any
    prefix: str
    layer_map: list[int] | None = None
    kept_ids: list[int] | None = None


def _build_student(
    spec, teacher, tokenizer, teacher_info: FolderData, transfer, soft, config, max_length, info
):
    """``layers:K``: cut from the teacher (vocabulary pruned to the transfer texts with ``--prune-vocab``); else an HF model with a fresh
    head. Notes what it did in ``info``."""
    from llm_router.distill.student import hf_student, layer_student, start_layers

    prefix = teacher_info.text_prefix
    if spec.kind != "layers":
        model, student_tokenizer = hf_student(spec.model_name, teacher_info.labels)
        if config.hidden_weight or config.attention_weight:
            info["note"] = "hidden-state / attention matching needs a layers:K student; ignored"
        return Student(model, student_tokenizer, student_text_prefix(spec.model_name))
    pruned = None
    student_tokenizer = tokenizer
    if config.prunes_vocab("layers"):
        from llm_router.distill.vocab import prune_tokenizer, unknown_token_stats

        pruned = prune_tokenizer(
            tokenizer,
            [prefix + t for t in transfer.texts],
            keep_chars=config.keep_chars,
            keep_frequent=config.keep_frequent,
            verify=True,
        )
        student_tokenizer = pruned.tokenizer
        info["vocab"] = pruned.as_dict()
        info["vocab"]["test_unknown"] = unknown_token_stats(
            pruned.tokenizer, [prefix + t for t in teacher_info.test["text"]], reference=tokenizer
        )
        if len(teacher_info.test):
            info["vocab"]["teacher_with_pruned_vocab"] = pruning_cost(
                teacher, pruned, teacher_info, soft.test_logits, prefix, max_length, config.eval_batch_size
            )
    kept_ids = pruned.kept_ids if pruned is not None else None
    init_layers = start_layers(teacher.config.num_hidden_layers, spec.num_layers, spec.init_layers)
    model, layer_map = layer_student(teacher, spec.num_layers, kept_ids, tuple(init_layers))
    info["layer_map"] = layer_map
    info["init_layers"] = init_layers
    student_tokenizer.model_max_length = max_length
    return Student(model, student_tokenizer, prefix, layer_map, kept_ids)


def _score_student(student: Student, teacher, teacher_info: FolderData, soft, config, max_length, info):
    """Student and teacher on the test split (route level); agreement, scores and sizes into ``info``."""
    test_logits = predict_logits(
        student.model,
        student.tokenizer,
        list(teacher_info.test["text"]),
        student.prefix,
        max_length,
        config.eval_batch_size,
    )
    has_test = len(teacher_info.test) > 0
    metrics = route_report(teacher_info, test_logits, teacher_info.test) if has_test else {}
    teacher_metrics = route_report(teacher_info, soft.test_logits, teacher_info.test) if has_test else {}
    info["test_agreement_with_teacher"] = route_agreement(teacher_info, test_logits, soft.test_logits)
    info["test_macro_f1"] = metrics.get("macro_f1")
    info["teacher_test_macro_f1"] = teacher_metrics.get("macro_f1")
    info["student_params"] = int(sum(p.numel() for p in student.model.parameters()))
    info["teacher_params"] = int(sum(p.numel() for p in teacher.parameters()))
    return metrics, teacher_metrics


def student_text_prefix(model_name: str) -> str:
    """The text prefix a Hugging Face student expects (its model profile's; "" when unknown)."""
    from llm_router.models import model_profile

    try:
        return model_profile(model_name).text_prefix or ""
    except RouterError:
        return ""


def pruning_cost(
    teacher,
    pruned,
    teacher_info: FolderData,
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


def _train(
    student,
    tokenizer,
    teacher,
    teacher_info: FolderData,
    transfer: TransferSet,
    teacher_logits,
    config: DistillConfig,
    prefix: str,
    max_length: int,
    layer_map,
    kept_ids,
    teacher_hidden=None,
    teacher_val_logits=None,
    deadline: float | None = None,
):
    """The distillation loop; returns (history, best state dict or None); the best epoch's row is marked
    ``"best"``.

    ``teacher_hidden``: the teacher's hidden states of every transfer text (see :func:`teacher_outputs`), cached
    so hidden-state matching needs no teacher forward per step; without it the teacher runs on each batch.
    ``teacher_val_logits``: the teacher on the validation split; each epoch is scored against it (agreement, KL)
    and the gold routes (macro F1), and ``config.select_on`` picks the epoch kept. ``deadline``
    (``time.perf_counter()``): after each epoch, fewer epochs are planned when the rest would end after it
    (:class:`llm_router.utils.budget.EpochBudget`); the row of the epoch that re-planned says why."""
    import torch

    match_layers = layer_map is not None and (config.hidden_weight > 0 or config.attention_weight > 0)
    loss_fn = _BatchLoss(
        student,
        teacher,
        torch.as_tensor(teacher_logits),
        torch.as_tensor(transfer.gold),
        _class_weight(transfer, len(teacher_info.labels), config),
        config,
        layer_map if match_layers else None,
        torch.as_tensor(kept_ids, dtype=torch.long) if kept_ids is not None else None,
        teacher_hidden,
    )
    steps_per_epoch = math.ceil(len(transfer.texts) / config.batch_size)
    steps = config.epochs * steps_per_epoch
    optimizer, scheduler = _optimizer(student, config, steps)
    budget = EpochBudget(deadline, config.epochs)
    rng = np.random.default_rng(config.seed)
    # verbose=False: no warning for the texts longer than the model's limit (they are cut when batched)
    encoded = tokenizer([prefix + t for t in transfer.texts], truncation=False, verbose=False)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    val_texts = list(teacher_info.val["text"])
    history: list[dict] = []
    stop, best_state = EarlyStopping(config.patience), None

    with make_progress(transient=True) as progress:
        bar = Bar(progress, "distilling", steps)
        epoch = 0
        while epoch < budget.planned:
            epoch, epoch_start = epoch + 1, time.perf_counter()
            student.train()
            losses, parts_sum = [], {}
            for idx in length_bucketed_batches(lengths, config.batch_size, rng):
                enc = _encode(tokenizer, [transfer.texts[i] for i in idx], prefix, max_length)
                loss, parts = loss_fn(enc, idx)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                losses.append(float(loss.detach()))
                for k, v in parts.items():
                    parts_sum[k] = parts_sum.get(k, 0.0) + v
                bar.advance(info=f"epoch {epoch} loss {np.mean(losses):.4f}")
            row = {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)),
                **{f"train_{k}": v / max(len(losses), 1) for k, v in parts_sum.items()},
            }
            if val_texts:
                val_logits = predict_logits(
                    student, tokenizer, val_texts, prefix, max_length, config.eval_batch_size
                )
                row.update(_val_scores(teacher_info, val_logits, teacher_val_logits))
            replanned = budget.after_epoch(epoch, time.perf_counter() - epoch_start)
            if replanned:
                row["time_budget"] = replanned
                scheduler = decay_to_zero(optimizer, (budget.planned - epoch) * steps_per_epoch)
                bar.print(f"time budget: {replanned}")
            history.append(row)
            val_note = (
                f", val macro F1 {row['val_macro_f1']:.3f}"
                + (
                    f", agreement {row['val_agreement']:.3f}, KL {row['val_kl']:.4f}"
                    if "val_kl" in row
                    else ""
                )
                if val_texts
                else ""
            )
            bar.print(f"epoch {epoch}: train loss {row['train_loss']:.4f}{val_note}", highlight=False)
            bar.update(info=f"epoch {epoch} loss {row['train_loss']:.4f}")
            if val_texts:
                if stop.update(_selection_score(row, config.select_on), epoch):
                    best_state = copy.deepcopy(student.state_dict())
                elif stop.should_stop:
                    bar.print(f"early stop: no val gain for {stop.stale} epochs (best {stop.best_epoch})")
                    break
    for row in history:
        row["best"] = row["epoch"] == stop.best_epoch
    return history, best_state


def _val_scores(teacher_info: FolderData, val_logits, teacher_val_logits) -> dict:
    """One epoch's validation scores: macro F1 against the gold routes and, given the teacher's logits, route
    agreement with the teacher and the mean KL(teacher || student) of their label distributions."""
    scores = {"val_macro_f1": route_macro_f1(teacher_info, val_logits, teacher_info.val)}
    if teacher_val_logits is not None and len(teacher_val_logits) == len(val_logits):
        p, q = softmax(teacher_val_logits), softmax(val_logits)
        kl = float(
            np.mean(np.sum(p * (np.log(np.clip(p, 1e-12, None)) - np.log(np.clip(q, 1e-12, None))), 1))
        )
        scores["val_agreement"] = route_agreement(teacher_info, val_logits, teacher_val_logits)
        scores["val_kl"] = kl
    return scores


def _selection_score(row: dict, select_on: str) -> float:
    """The number an epoch is chosen by (higher is better); falls back to macro F1 without teacher scores."""
    if select_on == "macro_f1" or "val_kl" not in row:
        return row["val_macro_f1"]
    if select_on == "kl":
        return -row["val_kl"]
    # agreement first; among equal agreements the smaller KL (KL < 1e3, so it never outweighs one text)
    return row["val_agreement"] - min(row["val_kl"], 1e3) * 1e-6


def _optimizer(student, config: DistillConfig, steps: int):
    """AdamW (no weight decay on biases and norms; embeddings frozen as configured) and a linear warm-up
    schedule over ``steps``."""
    import torch
    from transformers import get_linear_schedule_with_warmup

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
    return optimizer, scheduler


def _class_weight(transfer: TransferSet, n_labels: int, config: DistillConfig):
    """``class_weights="balanced"``: inverse gold-label frequency for the CE term (None otherwise)."""
    if config.class_weights != "balanced":
        return None
    import torch

    counts = np.bincount(transfer.gold[transfer.gold >= 0], minlength=n_labels).astype(float)
    w = np.where(counts > 0, counts.sum() / (len(counts) * np.maximum(counts, 1)), 0.0)
    return torch.as_tensor(w, dtype=torch.float32)


class _BatchLoss:
    """The loss of one batch: KD (+ gold CE) on the logits, and with a ``layer_map`` the hidden-state /
    attention-map terms against the teacher (cached hidden states, or a teacher forward on the batch)."""

    def __init__(
        self,
        student,
        teacher,
        t_logits,
        gold,
        class_weight,
        config,
        layer_map,
        to_teacher_ids,
        teacher_hidden,
    ):
        self.student, self.teacher, self.config = student, teacher, config
        self.temperatures = config.kd_temperatures()  # parsed once, not per batch
        self.t_logits, self.gold, self.class_weight = t_logits, gold, class_weight
        self.layer_map, self.to_teacher_ids, self.teacher_hidden = layer_map, to_teacher_ids, teacher_hidden

    def __call__(self, enc, idx):
        config, match_layers = self.config, self.layer_map is not None
        out = self.student(
            **enc,
            output_hidden_states=match_layers,
            output_attentions=match_layers and config.attention_weight > 0,
        )
        loss, parts = kd_loss(
            out.logits,
            self.t_logits[idx],
            self.gold[idx],
            config.alpha,
            self.temperatures,
            self.class_weight,
        )
        if match_layers:
            loss = self._match_layers(enc, idx, out, loss, parts)
        return loss, parts

    def _match_layers(self, enc, idx, out, loss, parts):
        import torch

        config, layer_map, teacher_hidden = self.config, self.layer_map, self.teacher_hidden
        mask = enc["attention_mask"]
        s_idx, t_idx = hidden_pairs(layer_map)
        need_teacher = config.attention_weight > 0 or teacher_hidden is None
        if need_teacher:
            t_enc = dict(enc)
            if self.to_teacher_ids is not None:
                t_enc["input_ids"] = self.to_teacher_ids[enc["input_ids"]]
            with torch.no_grad():
                t_out = self.teacher(
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
        return loss
