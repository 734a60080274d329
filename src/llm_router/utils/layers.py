"""Where an encoder keeps its layers: the one place that knows, per architecture family, the embedding module and
the transformer layer list, and how a parameter name says which layer it belongs to."""

from __future__ import annotations

import re

# model_type -> (embedding module, layer list), as attribute paths under ``model.base_model``.
LAYOUTS: dict[str, tuple[str, str]] = {
    "bert": ("embeddings", "encoder.layer"),
    "roberta": ("embeddings", "encoder.layer"),
    "xlm-roberta": ("embeddings", "encoder.layer"),
    "camembert": ("embeddings", "encoder.layer"),
    "electra": ("embeddings", "encoder.layer"),
    "mpnet": ("embeddings", "encoder.layer"),
    "distilbert": ("embeddings", "transformer.layer"),
    "modernbert": ("embeddings", "layers"),
}

#: a parameter / state-dict key inside layer ``idx``: ``encoder.layer.3.attention...`` (BERT, XLM-R, e5),
#: ``layers.3.`` (ModernBERT), ``transformer.layer.3.`` (DistilBERT)
LAYER_KEY = re.compile(r"^(?P<head>(?:.*\.)?(?:layer|layers))\.(?P<idx>\d+)\.(?P<tail>.*)$")


def get_path(obj, path: str):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def set_path(obj, path: str, value) -> None:
    *parents, last = path.split(".")
    for part in parents:
        obj = getattr(obj, part)
    setattr(obj, last, value)


def layout(model) -> tuple[str, str] | None:
    """(embedding path, layer-list path) for this model's architecture, or None if unknown."""
    return LAYOUTS.get(getattr(model.config, "model_type", ""))


def num_layers(model) -> int | None:
    """How many transformer layers ``model`` has (None for an architecture not in :data:`LAYOUTS`)."""
    paths = layout(model)
    return None if paths is None else len(get_path(model.base_model, paths[1]))


def keep_config_layers(config, layer_ids: list[int]) -> None:
    """Make ``config`` describe only the encoder layers ``layer_ids`` (in that order): ``num_hidden_layers`` and
    the per-layer lists of newer configs (``layer_types``) follow the selection."""
    have = config.num_hidden_layers
    config.num_hidden_layers = len(layer_ids)
    value = getattr(config, "layer_types", None)
    if isinstance(value, list) and len(value) == have:
        config.layer_types = [value[i] for i in layer_ids]


def layer_index(name: str) -> int | None:
    """The layer a parameter / state-dict key belongs to, or None (embeddings, pooler, head)."""
    match = LAYER_KEY.match(name)
    return None if match is None else int(match["idx"])
