"""Train only the top encoder layers, computing the frozen bottom once.

With ``trainable_layers=k`` the embeddings and the bottom ``n - k`` layers are frozen. Their output for a text never
changes, so it is computed once per training text (no dropout, batched) and cached; each training step then runs
only the top ``k`` layers and the head, forward and backward. On a 2-core CPU that is the difference between
minutes and tens of minutes per cross-validation, and on a few hundred examples it loses little or nothing (the
bottom layers' general-purpose features are what a tiny data set cannot improve anyway).

Mechanics, generic over architectures: inside :func:`top_layers_only` the base model's embedding module is swapped
for a stub that returns the cached hidden states of the batch, and its layer list is cut to the top ``k`` layers.
The model's own forward does everything else (attention masks, pooling, head), so the result is bit-for-bit the
same computation as the full model (tested). Where the embedding module and layer list live is the only
per-architecture knowledge, in :data:`llm_router.utils.layers.LAYOUTS`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np

from llm_router.utils.layers import get_path, layout, num_layers, set_path


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


def frozen_bottom(model, trainable_layers: int | None) -> int:
    """How many bottom layers ``trainable_layers`` leaves frozen (0 = train everything)."""
    n = num_layers(model)
    if trainable_layers is None or n is None or trainable_layers >= n:
        return 0
    return n - max(0, trainable_layers)


def freeze_bottom(model, k: int) -> None:
    """``requires_grad=False`` for the embeddings and the bottom ``k`` layers."""
    emb_path, layers_path = layout(model)
    base = model.base_model
    for module in [get_path(base, emb_path), *list(get_path(base, layers_path))[:k]]:
        module.requires_grad_(False)


def compute_bottom_states(
    model, features: Sequence[dict[str, list[int]]], k: int, pad_token_id: int, batch_size: int = 64
) -> list:
    """Hidden states after the bottom ``k`` layers for each tokenised example ([len_i, hidden] tensors, unpadded).
    Runs in eval mode (no dropout) without gradients."""
    import torch

    was_training = model.training
    model.eval()
    order = np.argsort([len(f["input_ids"]) for f in features], kind="stable")
    states: list = [None] * len(features)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = pad_batch([features[i] for i in idx], pad_token_id)
            out = model.base_model(**batch, output_hidden_states=True)
            hidden = out.hidden_states[k]
            for row, i in enumerate(idx):
                states[i] = hidden[row, : len(features[i]["input_ids"])].clone()
    model.train(was_training)
    return states


def advance_states(
    model,
    features: Sequence[dict[str, list[int]]],
    states: Sequence,
    start: int,
    stop: int | None,
    pad_token_id: int,
    batch_size: int = 64,
) -> list:
    """Cached states after layer ``start`` (from :func:`compute_bottom_states`) carried through layers
    ``start..stop-1``: the same as ``compute_bottom_states(model, features, stop)``, at the cost of those layers
    only. Eval mode, no gradients."""
    import torch

    was_training = model.training
    model.eval()
    order = np.argsort([len(f["input_ids"]) for f in features], kind="stable")
    out: list = [None] * len(features)
    with torch.inference_mode(), top_layers_only(model, start, stop) as stub:
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            batch = pad_batch([features[i] for i in idx], pad_token_id)
            stub.states = pad_states([states[i] for i in idx], batch["input_ids"].shape[1])
            hidden = model.base_model(**batch, output_hidden_states=True).hidden_states[-1]
            for row, i in enumerate(idx):
                out[i] = hidden[row, : len(features[i]["input_ids"])].clone()
    model.train(was_training)
    return out


def pad_states(states: Sequence, width: int):
    """Stack [len_i, hidden] tensors into [batch, width, hidden], zero-padded on the right."""
    import torch

    hidden = states[0].shape[-1]
    out = torch.zeros(len(states), width, hidden, dtype=states[0].dtype)
    for i, s in enumerate(states):
        out[i, : s.shape[0]] = s
    return out


class _CachedEmbeddings:
    """Stand-in for the embedding module: returns whatever hidden states were set for the current batch."""

    def __new__(cls):
        import torch

        class CachedEmbeddings(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.states = None

            def forward(self, *args, **kwargs):
                return self.states

        return CachedEmbeddings()


@contextlib.contextmanager
def top_layers_only(model, k: int, stop: int | None = None) -> Iterator:
    """Within the block the model runs only its layers ``k..stop-1`` (default: to the last) on states set with
    ``stub.states = ...`` (the yielded stub); on exit the original embeddings and full layer list are back in
    place."""
    import torch

    emb_path, layers_path = layout(model)
    base = model.base_model
    embeddings, layers = get_path(base, emb_path), get_path(base, layers_path)
    stub = _CachedEmbeddings()
    set_path(base, emb_path, stub)
    set_path(base, layers_path, torch.nn.ModuleList(list(layers)[k:stop]))
    try:
        yield stub
    finally:
        set_path(base, emb_path, embeddings)
        set_path(base, layers_path, layers)
