"""The distillation loss terms: soft-label KD, hidden-state and attention-map matching (TinyBERT)."""

from __future__ import annotations


def kd_loss(student_logits, teacher_logits, gold, alpha: float, temperature, class_weight=None):
    """``alpha * CE(gold) + (1 - alpha) * KD``, ``KD = mean over T of T^2 * KL(teacher_T || student_T)``:
    ``temperature`` is one T or several (the teacher's soft labels at each, e.g. ``(1, 2, 4)``). Rows with
    ``gold == -1`` get the KD term only. Returns ``(loss, parts)`` with the unweighted parts as floats."""
    import torch
    import torch.nn.functional as F

    temperatures = (temperature,) if isinstance(temperature, int | float) else tuple(temperature)
    kl = sum(
        F.kl_div(
            F.log_softmax(student_logits / t, -1),
            F.log_softmax(teacher_logits / t, -1),
            reduction="batchmean",
            log_target=True,
        )
        * (t * t)
        for t in temperatures
    ) / len(temperatures)
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
