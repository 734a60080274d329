"""Routing policies: how route probabilities become a decision. Stored as ``policy.json`` in a model folder
(named by ``router.json:policy``) and applied by the Predictor, so ``router serve`` and ``router eval`` use it.

Rules (:class:`Policy`):

- ``argmax``: the most probable route (the default, and what a folder without ``policy.json`` does).
- ``threshold``: the most probable route if its probability reaches that route's minimum confidence
  (``min_confidence[route]``, else ``default_min_confidence``), otherwise the ``fallback`` route.
- ``cost``: the route maximising ``expected quality - lam * cost``. The expected quality of route ``r`` for a
  query is ``sum_l p(l) * quality[l][r]``: ``quality[l][r]`` is the mean quality route ``r`` delivered on
  training queries whose label was ``l`` (fitted from outcome data by :func:`fit_outcome_model`); without
  ``quality``, a route's quality is its own probability (identity). ``costs`` are per query, in the data's unit
  (USD for RouterBench).

Every decision carries the rule that decided it (``argmax``, ``threshold`` when the fallback fired, ``cost``)
and a constant reason string; :meth:`CompiledPolicy.decide` is vectorised numpy over a whole batch, so the
server's batch worker pays for it once per batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from llm_router.errors import RouterError

POLICY_FILE = "policy.json"
RULES = ("argmax", "threshold", "cost")

# (rule that decided, reason) by decision code
DECISIONS = (
    ("argmax", "highest probability"),
    ("argmax", "top route reaches its minimum confidence"),
    ("threshold", "top route below its minimum confidence: fallback route"),
    ("cost", "highest expected quality minus lambda x cost"),
)
ARGMAX, CONFIDENT, FALLBACK, COST = range(4)


@dataclass
class Policy:
    """A routing rule and its knobs (see the module docstring). The defaults are plain argmax."""

    rule: str = "argmax"
    min_confidence: dict[str, float] = field(default_factory=dict)  # threshold: per route
    default_min_confidence: float = 0.0  # threshold: routes absent from min_confidence
    fallback: str | None = None  # threshold: the route taken below the minimum
    costs: dict[str, float] | None = None  # cost: per route, per query
    lam: float = 0.0  # cost: lambda, quality units per cost unit
    quality: dict[str, dict[str, float]] | None = None  # cost: {label route: {route: mean quality}}
    cost_unit: str = ""
    source: str = ""  # where costs / quality came from

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise RouterError(f"unknown policy rule {self.rule!r} (choose from {', '.join(RULES)})")
        for route, value in {**self.min_confidence, "default": self.default_min_confidence}.items():
            if not 0.0 <= float(value) <= 1.0:
                raise RouterError(f"minimum confidence of {route!r} must be within 0-1 (got {value})")
        if not math.isfinite(float(self.lam)) or float(self.lam) < 0:
            raise RouterError(f"lambda must be a non-negative number (got {self.lam})")
        if self.rule == "threshold" and not self.fallback:
            raise RouterError("the threshold rule needs a fallback route (--fallback)")
        if self.rule == "cost" and not self.costs:
            raise RouterError("the cost rule needs route costs (--cost ROUTE=COST, or --outcomes FILE)")
        for route, value in (self.costs or {}).items():  # NaN would route everything to one route, silently
            if not math.isfinite(float(value)) or float(value) < 0:
                raise RouterError(f"cost of {route!r} must be a non-negative number (got {value})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def compile(self, routes: list[str]) -> CompiledPolicy:
        return CompiledPolicy(self, routes)


class CompiledPolicy:
    """A :class:`Policy` checked against a model's routes, as numpy arrays ready for :meth:`decide`."""

    def __init__(self, policy: Policy, routes: list[str]):
        self.policy = policy
        self.routes = list(routes)
        index = {r: i for i, r in enumerate(self.routes)}

        def check(names, what):
            unknown = sorted(set(names) - set(index))
            if unknown:
                raise RouterError(
                    f"policy {what} names unknown route(s) {', '.join(unknown)} (routes: {routes})"
                )

        n = len(self.routes)
        check(policy.min_confidence, "min_confidence")
        self.thresholds = np.full(n, float(policy.default_min_confidence))
        for route, value in policy.min_confidence.items():
            self.thresholds[index[route]] = float(value)
        self.fallback = None
        if policy.fallback is not None:
            check([policy.fallback], "fallback")
            self.fallback = index[policy.fallback]
        self.costs = None
        if policy.costs:
            check(policy.costs, "costs")
            missing = [r for r in self.routes if r not in policy.costs]
            if missing:
                raise RouterError(f"policy costs miss route(s) {', '.join(missing)}")
            self.costs = np.array([float(policy.costs[r]) for r in self.routes])
        self.quality = np.eye(n)
        if policy.quality:
            check(policy.quality, "quality")
            for label, row in policy.quality.items():
                check(row, "quality")
                for route, q in row.items():
                    self.quality[index[label], index[route]] = float(q)
        self.lam = float(policy.lam)

    @property
    def rule(self) -> str:
        return self.policy.rule

    def decide(self, route_probs: np.ndarray, lam: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(route index, decision code)`` per row of ``route_probs`` ([n, n_routes]); a code indexes
        :data:`DECISIONS`. ``lam`` overrides the policy's lambda (for sweeps)."""
        probs = np.asarray(route_probs, dtype=np.float64)
        rule = self.policy.rule
        if rule == "cost":
            utility = probs @ self.quality - (self.lam if lam is None else float(lam)) * self.costs
            return utility.argmax(axis=1), np.full(len(probs), COST, dtype=np.int8)
        top = probs.argmax(axis=1)
        if rule == "argmax":
            return top, np.full(len(probs), ARGMAX, dtype=np.int8)
        low = probs[np.arange(len(probs)), top] < self.thresholds[top]
        return np.where(low, self.fallback, top), np.where(low, FALLBACK, CONFIDENT).astype(np.int8)


def read_policy(folder: str | Path, raw: dict[str, Any] | None = None) -> Policy | None:
    """The folder's policy, or ``None`` when ``router.json`` names none (``raw``: router.json's content)."""
    from llm_router.persistence.router_json import read_sidecar

    data = read_sidecar(folder, raw, "policy", "policy")
    if data is None:
        return None
    try:
        return Policy.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise RouterError(f"{folder}: policy file is not valid ({exc})") from None


def write_policy(folder: str | Path, policy: Policy | None) -> Path:
    """Write ``policy.json`` and point ``router.json`` at it (atomically); ``None`` removes it (argmax)."""
    from llm_router.persistence.router_json import read_router_info, write_sidecar

    if policy is not None:
        _, info = read_router_info(folder)
        policy.compile(info.routes)  # refuse a policy that does not fit the model's routes
    return write_sidecar(folder, "policy", POLICY_FILE, policy.to_dict() if policy else None)


def outcome_columns(columns, routes: list[str]) -> tuple[list[str], list[str]]:
    """The ``score_<route>`` and ``cost_<route>`` columns for ``routes``, or a RouterError naming the missing."""
    columns = set(columns)
    scores, costs = [f"score_{r}" for r in routes], [f"cost_{r}" for r in routes]
    missing = [c for c in scores + costs if c not in columns]
    if missing:
        raise RouterError(
            f"outcome data lacks column(s) {', '.join(missing)} (need score_<route>, cost_<route>)"
        )
    return scores, costs


def fit_outcome_model(
    scores: np.ndarray, costs: np.ndarray, labels: list[str] | None, routes: list[str]
) -> tuple[dict[str, dict[str, float]] | None, dict[str, float]]:
    """``(quality, costs)`` for a cost policy from outcome rows: ``scores`` / ``costs`` are [n, n_routes];
    ``quality[l][r]`` is the mean score of route ``r`` on rows labelled ``l`` (labels missing from the rows keep
    the identity row); costs are the per-route means. ``labels=None``: no quality matrix."""
    try:
        scores = np.asarray(scores, dtype=np.float64)
        costs = np.asarray(costs, dtype=np.float64)
    except (TypeError, ValueError):
        raise RouterError("outcome columns (score_<route>, cost_<route>) must hold numbers") from None
    if len(scores) == 0:
        raise RouterError("no outcome rows to fit route costs / quality on")
    if np.isnan(scores).any() or np.isnan(costs).any():
        raise RouterError("outcome columns hold missing values")
    mean_costs = {r: float(c) for r, c in zip(routes, costs.mean(axis=0), strict=True)}
    if labels is None:
        return None, mean_costs
    labels = np.asarray([str(x) for x in labels])
    quality = {}
    for i, label in enumerate(routes):
        rows = labels == label
        if rows.any():
            quality[label] = {r: float(q) for r, q in zip(routes, scores[rows].mean(axis=0), strict=True)}
        else:
            quality[label] = {r: float(i == j) for j, r in enumerate(routes)}
    return quality, mean_costs
