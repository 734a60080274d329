"""Model outputs during distillation: logits (and cached hidden states) of the teacher and the student on a list of
texts, and route-level scores of those logits against a folder's split (labels summed into routes)."""

from __future__ import annotations

import numpy as np

from llm_router.persistence import FolderData
from llm_router.utils.probs import routes_from_labels, softmax


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


def route_macro_f1(teacher: FolderData, logits: np.ndarray, rows) -> float:
    """Route-level macro F1 of ``logits`` against the routes of ``rows``."""
    from sklearn.metrics import f1_score

    if len(rows) == 0:
        return float("nan")
    labels = teacher.labels
    pred = [teacher.to_route(labels[i]) for i in logits.argmax(1)]
    return float(f1_score(list(rows["route"]), pred, labels=teacher.routes, average="macro", zero_division=0))


def route_agreement(teacher: FolderData, logits: np.ndarray, teacher_logits: np.ndarray) -> float | None:
    """Share of texts on which two models pick the same route."""
    if len(logits) == 0:
        return None
    labels = teacher.labels
    a = [teacher.to_route(labels[i]) for i in logits.argmax(1)]
    b = [teacher.to_route(labels[i]) for i in teacher_logits.argmax(1)]
    return float(np.mean([x == y for x, y in zip(a, b, strict=True)]))


def route_report(teacher: FolderData, logits: np.ndarray, rows) -> dict:
    """`llm_router.eval.metrics.classification_report` of route predictions (probabilities summed per route)."""
    from llm_router.eval.metrics import classification_report

    routes = teacher.routes
    route_probs = routes_from_labels(softmax(logits), teacher.labels, teacher.route_map, routes)
    pred = [routes[i] for i in route_probs.argmax(1)]
    return classification_report(
        list(rows["route"]), pred, routes, probs=route_probs, texts=list(rows["text"])
    )
