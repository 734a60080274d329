"""The ``static`` student: a model2vec static-embedding model distilled from the teacher's encoder + a linear head.

The extreme of the speed/accuracy curve: a query becomes the mean of one fixed vector per token (no attention, no
layers), then ``softmax(emb @ coef.T + intercept)``. Steps:

1. Vocabulary: the tokens of the transfer texts (the same pruning as ``layers:K`` students, so model2vec runs one
   forward pass per *kept* token - seconds, instead of 250k passes for multilingual-e5), or the teacher's whole
   vocabulary with ``prune_vocab=False``.
2. ``model2vec.distill.distill_from_model`` on the teacher's *fine-tuned* encoder (``teacher.base_model``): each
   token's vector is the encoder's output for that token alone, PCA-reduced and SIF-weighted. Nothing is
   downloaded: the model and tokenizer objects are passed in.
3. Head: scikit-learn logistic regression on the static embeddings of the transfer set, fitted to
   ``alpha * gold + (1 - alpha) * teacher probabilities`` (each text appears once per label with that label's target
   probability as its sample weight - the cross-entropy against soft targets); ``C`` chosen on the validation
   split's route-level macro F1.

Folder (``kind: static``): ``StaticModel.save_pretrained`` output + ``head.npz`` (``coef`` [n_labels, dim],
``intercept`` [n_labels]) + ``router.json`` + ``split.json`` (+ metrics / distill / train_config JSON).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np

from llm_router.distill.config import DistillConfig, DistillResult
from llm_router.distill.folder import write_student_files
from llm_router.distill.scoring import route_agreement, route_macro_f1, route_report
from llm_router.distill.transfer import TransferSet
from llm_router.errors import RouterError
from llm_router.persistence import FolderData
from llm_router.utils import atomic_output_dir
from llm_router.utils.probs import softmax


def distill_static_model(encoder, tokenizer, texts: list[str] | None, config: DistillConfig):
    """A model2vec ``StaticModel`` from ``encoder`` (an HF base model) and its fast ``tokenizer``.

    ``texts`` given (and ``config.prunes_vocab("static")``, the default): the vocabulary is pruned to their tokens first. Returns
    ``(static_model, pruned)`` where ``pruned`` is the :class:`~llm_router.distill.vocab.PrunedVocab` or None."""
    from model2vec.distill import distill_from_model

    from llm_router.distill.vocab import prune_embeddings, prune_tokenizer

    pruned = None
    if texts and config.prunes_vocab("static"):
        pruned = prune_tokenizer(
            tokenizer, texts, keep_chars=config.keep_chars, keep_frequent=config.keep_frequent, verify=True
        )
        encoder = copy.deepcopy(encoder)
        prune_embeddings(encoder, pruned.kept_ids)
        tokenizer = pruned.tokenizer
    dims = config.static_pca_dims
    if dims is not None:
        dims = min(int(dims), encoder.config.hidden_size)
    encoder.eval()
    logging.getLogger("model2vec").setLevel(logging.ERROR)
    try:
        static = distill_from_model(
            model=encoder,
            tokenizer=copy.deepcopy(tokenizer),  # model2vec may reconfigure the tokenizer it is given
            device="cpu",
            pca_dims=dims,
            quantize_to="float32",
            pooling=config.static_pooling,
        )
    except ValueError as exc:
        raise RouterError(f"model2vec distillation failed: {exc}") from None
    return static, pruned


def _soft_targets(gold: np.ndarray, teacher_probs: np.ndarray, alpha: float) -> np.ndarray:
    target = (1 - alpha) * teacher_probs
    has_gold = gold >= 0
    target[has_gold, gold[has_gold]] += alpha
    target[~has_gold] = teacher_probs[~has_gold]  # unlabelled: the teacher alone
    return target / target.sum(1, keepdims=True)


def fit_soft_logistic(x: np.ndarray, target: np.ndarray, c: float, seed: int = 0):
    """Multinomial logistic regression minimising the cross-entropy against soft ``target`` rows [n, k]:
    every row is repeated once per class, weighted by that class's target probability."""
    from sklearn.linear_model import LogisticRegression

    n, k = target.shape
    xs = np.repeat(x, k, axis=0)
    ys = np.tile(np.arange(k), n)
    ws = target.reshape(-1)
    keep = ws > 1e-6
    clf = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    clf.fit(xs[keep], ys[keep], sample_weight=ws[keep] * k)
    coef = np.zeros((k, x.shape[1]), dtype=np.float32)
    intercept = np.zeros(k, dtype=np.float32)
    if len(clf.classes_) == 2 and k >= 2:  # binary sklearn head: one row for class_[1]
        coef[clf.classes_[1]] = clf.coef_[0] / 2
        coef[clf.classes_[0]] = -clf.coef_[0] / 2
        intercept[clf.classes_[1]] = clf.intercept_[0] / 2
        intercept[clf.classes_[0]] = -clf.intercept_[0] / 2
    else:
        missing = np.setdiff1d(np.arange(k), clf.classes_)
        coef[clf.classes_] = clf.coef_
        intercept[clf.classes_] = clf.intercept_
        intercept[missing] = -1e4  # a label never targeted is never predicted
    return coef, intercept


def static_embed(static_model, texts: list[str], max_length: int | None) -> np.ndarray:
    """Embeddings exactly as the runtime's ``StaticPredictor`` computes them (no prefix, same truncation)."""
    return np.asarray(
        static_model.encode(list(texts), max_length=max_length, use_multiprocessing=False), dtype=np.float32
    )


def train_static_student(
    teacher,
    tokenizer,
    teacher_info: FolderData,
    transfer: TransferSet,
    teacher_logits: np.ndarray,
    teacher_test_logits: np.ndarray,
    out_dir: str | Path,
    config: DistillConfig,
    info: dict,
) -> DistillResult:
    """Distil the static model, fit the head, write the ``kind: static`` folder."""
    from llm_router.distill.vocab import unknown_token_stats

    encoder = teacher.base_model
    static, pruned = distill_static_model(encoder, tokenizer, transfer.texts, config)
    if pruned is not None:
        info["vocab"] = pruned.as_dict()
        # model2vec drops unknown tokens: report how many test texts lose pieces that way.
        info["vocab"]["test_unknown"] = unknown_token_stats(
            pruned.tokenizer, list(teacher_info.test["text"]), reference=tokenizer
        )
    max_length = int(config.max_length or teacher_info.router.get("max_length") or 128)
    x = static_embed(static, transfer.texts, max_length)
    target = _soft_targets(transfer.gold, softmax(teacher_logits), config.alpha)
    val_texts = list(teacher_info.val["text"])
    x_val = static_embed(static, val_texts, max_length) if val_texts else None
    history, best = [], None
    for c in config.static_c_grid if x_val is not None else (1.0,):
        coef, intercept = fit_soft_logistic(x, target, c, config.seed)
        row = {"epoch": len(history) + 1, "C": c}
        if x_val is not None:
            row["val_macro_f1"] = route_macro_f1(teacher_info, x_val @ coef.T + intercept, teacher_info.val)
        history.append(row)
        if best is None or row.get("val_macro_f1", 0) > best[0].get("val_macro_f1", 0) + 1e-9:
            best = (row, coef, intercept)
    best_row, coef, intercept = best
    info["head"] = {"C": best_row["C"], "val_macro_f1": best_row.get("val_macro_f1"), "grid": history}
    test_texts = list(teacher_info.test["text"])
    metrics, teacher_metrics = {}, {}
    if test_texts:
        test_logits = static_embed(static, test_texts, max_length) @ coef.T + intercept
        metrics = route_report(teacher_info, test_logits, teacher_info.test)
        teacher_metrics = route_report(teacher_info, teacher_test_logits, teacher_info.test)
    if test_texts:
        info["test_agreement_with_teacher"] = route_agreement(teacher_info, test_logits, teacher_test_logits)
    info["test_macro_f1"] = metrics.get("macro_f1")
    info["teacher_test_macro_f1"] = teacher_metrics.get("macro_f1")
    info["student_params"] = int(np.prod(static.embedding.shape) + coef.size + intercept.size)
    router = {
        **teacher_info.router,
        "kind": "static",
        "text_prefix": "",  # a constant prefix only adds a constant vector to a static mean: not used
        "max_length": max_length,
        "onnx_file": None,
        "created_by": "router distill",
        "teacher": str(teacher_info.path),
        "student": "static",
    }
    with atomic_output_dir(out_dir) as tmp:
        static.save_pretrained(tmp)
        np.savez(tmp / "head.npz", coef=coef.astype(np.float32), intercept=intercept.astype(np.float32))
        write_student_files(tmp, teacher_info, router, config, metrics, info, [])
    return DistillResult(Path(out_dir), "static", metrics, teacher_metrics, info)
