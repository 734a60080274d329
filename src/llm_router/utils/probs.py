"""Probabilities: the softmax of logits, and labels -> routes (a model may output finer labels than the routes;
``route_map`` sends each label to a route and a route's probability is the sum of its labels'). The one implementation
every stage uses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llm_router.errors import RouterError


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax (float32), numerically stable."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def route_matrix(
    labels: Sequence[str], routes: Sequence[str], route_map: dict[str, str] | None
) -> np.ndarray:
    """``[n_labels, n_routes]`` 0/1 matrix: ``label_probs @ M`` gives each route's probability (the sum of its
    labels' probabilities). Without a route map every label is the route of the same name."""
    index = {route: j for j, route in enumerate(routes)}
    matrix = np.zeros((len(labels), len(routes)), dtype=np.float32)
    for i, label in enumerate(labels):
        route = route_map.get(label) if route_map else label
        if route not in index:
            how = (
                "route_map sends it to"
                if route_map
                else "it is not one of the routes and there is no route_map;"
            )
            raise RouterError(f"label {label!r}: {how} {route!r} (routes: {', '.join(routes)})")
        matrix[i, index[route]] = 1.0
    return matrix


def routes_from_labels(
    label_probs: np.ndarray, labels: Sequence[str], route_map: dict[str, str] | None, routes: Sequence[str]
) -> np.ndarray:
    """Route probabilities [n, len(routes)]: each route's probability is the sum of its labels' probabilities
    (a reordering when there is no route map)."""
    return np.asarray(label_probs, dtype=float) @ route_matrix(labels, routes, route_map)
