"""Cost-quality metrics of a router on outcome data (per-query quality and cost of every route), pure numpy.

Inputs are ``scores`` and ``costs``, both ``[n_queries, n_routes]`` (e.g. RouterBench's 0/1 correctness and USD
per query), and routing decisions ``choices`` (``[n_points, n_queries]`` route indices, one row per setting of
the policy knob). A point of the cost-quality plane is ``(mean cost, mean quality)`` of one row of choices.

Definitions (stated here because RouterBench's paper and code differ):

- **Non-decreasing convex hull** ``f(c)`` of a set of points: the upper convex hull from the cheapest point up to
  the highest-quality point, flat to the right of it (a router can always spend less than its budget), and 0
  left of the cheapest point. Mixing two policies at random reaches any point on a segment between them, so the
  hull is what a router can deliver at each budget.
- **AIQ** (average improvement in quality): ``(1 / (c_max - c_min)) * integral_{c_min}^{c_max} f(c) dc`` where
  ``c_min`` / ``c_max`` are the mean costs of the cheapest / most expensive single route: the mean quality over
  the single routes' cost range (the RouterBench paper's normalisation; its code integrates without dividing).
- **Zero router**: random mixing of single routes; its curve is the hull of the single-route points.
- **Oracle**: per query the best-scoring route, the cheapest among ties.
- **APGR**: with ``weak`` = the cheapest single route and ``strong`` = the best-quality one,
  ``PGR(c) = (f(c) - q_weak) / (q_strong - q_weak)`` averaged over ``[c_weak, c_strong]``.
- **CPT(x)**: the lowest cost where ``PGR >= x``, also given as a share of the way from ``c_weak`` to
  ``c_strong`` (RouteLLM counts calls to the strong model; with three routes cost is the common unit).
- **Cost saving at 95%**: ``c_strong / c`` for the lowest cost ``c`` at which the router reaches 95% of the
  strong route's quality (on the hull, and at an actual sweep point without mixing).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llm_router.errors import RouterError


def _as_matrix(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise RouterError(f"{name} must be a non-empty [queries, routes] matrix (got shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise RouterError(f"{name} holds missing or infinite values")
    return arr


def check_outcomes(scores, costs) -> tuple[np.ndarray, np.ndarray]:
    scores, costs = _as_matrix(scores, "scores"), _as_matrix(costs, "costs")
    if scores.shape != costs.shape:
        raise RouterError(f"scores {scores.shape} and costs {costs.shape} differ in shape")
    return scores, costs


def points(choices, scores, costs, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(mean cost, mean quality)`` of each row of ``choices`` ([k, n] route indices, or [n] for one point).
    ``weights`` ([n] or [b, n]) weight the queries (bootstrap counts); then the outputs are [k] or [k, b]."""
    choices = np.atleast_2d(np.asarray(choices, dtype=np.int64))
    rows = np.arange(scores.shape[0])
    q = scores[rows, choices]  # [k, n]
    c = costs[rows, choices]
    if weights is None:
        return c.mean(axis=1), q.mean(axis=1)
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum(axis=-1)
    return (c @ w.T) / total, (q @ w.T) / total


def single_route_choices(n_queries: int, n_routes: int) -> np.ndarray:
    """Choices of each single route: row ``r`` sends every query to route ``r``."""
    return np.repeat(np.arange(n_routes)[:, None], n_queries, axis=1)


def oracle_choice(scores, costs) -> np.ndarray:
    """Per query the route with the best score, the cheapest among equal scores."""
    scores, costs = check_outcomes(scores, costs)
    best = scores.max(axis=1, keepdims=True)
    masked = np.where(scores >= best, costs, np.inf)
    return masked.argmin(axis=1)


def nondecreasing_hull(cost: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (sorted by cost) of the non-decreasing upper convex hull of the points (see the docstring)."""
    c = np.asarray(cost, dtype=np.float64).ravel()
    q = np.asarray(quality, dtype=np.float64).ravel()
    if len(c) == 0 or len(c) != len(q):
        raise RouterError("need at least one (cost, quality) point")
    order = np.lexsort((-q, c))  # by cost, the best quality first among equal costs
    hull: list[tuple[float, float]] = []
    best = -np.inf
    for x, y in zip(c[order], q[order], strict=True):
        if y <= best:  # dominated: costs at least as much as a point already as good
            continue
        best = y
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # drop the middle point when it is on or below the segment from hull[-2] to the new point
            if (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1) >= 0:
                hull.pop()
            else:
                break
        if hull and hull[-1][0] == x:  # same cost, better quality
            hull.pop()
        hull.append((float(x), float(y)))
    hx, hy = zip(*hull, strict=True)
    return np.array(hx), np.array(hy)


def hull_value(hx: np.ndarray, hy: np.ndarray, c) -> np.ndarray:
    """``f(c)``: linear between hull vertices, flat right of the last one, 0 left of the first."""
    c = np.asarray(c, dtype=np.float64)
    value = np.interp(c, hx, hy)  # np.interp is flat beyond both ends
    return np.where(c < hx[0], 0.0, value)


def area_under(hx, hy, lo, hi) -> float:
    """Mean of ``f`` over ``[lo, hi]``, handling the jump at the first vertex exactly."""
    if not hi > lo:
        raise RouterError(f"empty cost range [{lo}, {hi}]: the single routes must differ in cost")
    start = max(lo, hx[0])
    if start >= hi:
        return 0.0
    xs = np.unique(np.concatenate([[start, hi], hx[(hx > start) & (hx < hi)]]))
    ys = hull_value(hx, hy, xs)
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2.0)) / (hi - lo)


def aiq(cost, quality, c_min: float, c_max: float) -> float:
    """AIQ of a set of points over ``[c_min, c_max]`` (see the module docstring)."""
    hx, hy = nondecreasing_hull(cost, quality)
    return area_under(hx, hy, c_min, c_max)


def min_cost_for(hx: np.ndarray, hy: np.ndarray, target: float) -> float | None:
    """The lowest cost at which the hull reaches ``target`` quality (None if it never does)."""
    if hy[-1] < target:
        return None
    if hy[0] >= target:
        return float(hx[0])
    j = int(np.argmax(hy >= target))  # first vertex at or above the target; hy is increasing
    x0, y0, x1, y1 = hx[j - 1], hy[j - 1], hx[j], hy[j]
    return float(x0 + (target - y0) * (x1 - x0) / (y1 - y0))


def reference_routes(single_cost: np.ndarray, single_quality: np.ndarray) -> tuple[int, int]:
    """``(weak, strong)``: the cheapest single route, and the best-quality one (the cheaper among ties)."""
    weak = int(np.lexsort((-single_quality, single_cost))[0])
    strong = int(np.lexsort((single_cost, -single_quality))[0])
    return weak, strong


def curve_metrics(
    router_cost, router_quality, single_cost, single_quality, target_share: float = 0.95
) -> dict[str, float | None]:
    """Every scalar metric of one router curve against the single routes (see the module docstring)."""
    single_cost = np.asarray(single_cost, dtype=np.float64)
    single_quality = np.asarray(single_quality, dtype=np.float64)
    c_min, c_max = float(single_cost.min()), float(single_cost.max())
    weak, strong = reference_routes(single_cost, single_quality)
    c_w, q_w, c_s, q_s = single_cost[weak], single_quality[weak], single_cost[strong], single_quality[strong]
    hx, hy = nondecreasing_hull(router_cost, router_quality)
    zx, zy = nondecreasing_hull(single_cost, single_quality)
    out: dict[str, float | None] = {
        "aiq": area_under(hx, hy, c_min, c_max),
        "aiq_zero_router": area_under(zx, zy, c_min, c_max),
    }
    out["aiq_gain"] = out["aiq"] - out["aiq_zero_router"]
    gap = q_s - q_w
    if c_s > c_w and gap > 0:
        out["apgr"] = (area_under(hx, hy, c_w, c_s) - q_w) / gap
        for x in (0.5, 0.8):
            c = min_cost_for(hx, hy, q_w + x * gap)
            out[f"cpt{int(x * 100)}_cost"] = c
            out[f"cpt{int(x * 100)}_share"] = None if c is None else (c - c_w) / (c_s - c_w)
    else:  # the best route is also the cheapest: nothing to recover
        out.update(apgr=None, cpt50_cost=None, cpt50_share=None, cpt80_cost=None, cpt80_share=None)
    target = target_share * q_s
    c_hull = min_cost_for(hx, hy, target)
    rc, rq = np.asarray(router_cost, dtype=np.float64), np.asarray(router_quality, dtype=np.float64)
    reached = rc[rq >= target]
    c_point = float(reached.min()) if len(reached) else None
    out.update(
        target_quality=float(target),
        cost_at_target_hull=c_hull,
        saving_at_target_hull=None if not c_hull else float(c_s / c_hull),
        cost_at_target_point=c_point,
        saving_at_target_point=None if not c_point else float(c_s / c_point),
    )
    return out


def evaluate_curve(
    choices,
    scores,
    costs,
    routes: Sequence[str],
    knobs: Sequence[float] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    target_share: float = 0.95,
) -> dict:
    """The whole cost-quality evaluation of a router whose decisions under each knob setting are ``choices``
    ([k, n]): its points, single routes, oracle, every metric of :func:`curve_metrics`, the route split at each
    point, and bootstrap 95% intervals (queries resampled with replacement, ``n_boot`` times)."""
    scores, costs = check_outcomes(scores, costs)
    n, n_routes = scores.shape
    choices = np.atleast_2d(np.asarray(choices, dtype=np.int64))
    if choices.shape[1] != n or choices.min() < 0 or choices.max() >= n_routes:
        raise RouterError(f"choices {choices.shape} do not fit {n} queries and {n_routes} routes")
    routes = [str(r) for r in routes]
    rc, rq = points(choices, scores, costs)
    sc, sq = points(single_route_choices(n, n_routes), scores, costs)
    oc, oq = points(oracle_choice(scores, costs), scores, costs)
    metrics = curve_metrics(rc, rq, sc, sq, target_share)
    weak, strong = reference_routes(sc, sq)
    split = np.stack([(choices == r).mean(axis=1) for r in range(n_routes)], axis=1)  # [k, n_routes]
    knobs = list(range(len(choices))) if knobs is None else [float(x) for x in knobs]
    curve = [
        {
            "knob": knob,
            "cost": float(c),
            "quality": float(q),
            "split": dict(zip(routes, map(float, s), strict=True)),
        }
        for knob, c, q, s in zip(knobs, rc, rq, split, strict=True)
    ]
    at_target = None
    if metrics["cost_at_target_point"] is not None:
        ok = [p for p in curve if p["quality"] >= metrics["target_quality"]]
        at_target = min(ok, key=lambda p: p["cost"])
    result = {
        "n": int(n),
        "routes": routes,
        "single_routes": {
            r: {"cost": float(c), "quality": float(q)} for r, c, q in zip(routes, sc, sq, strict=True)
        },
        "weak_route": routes[weak],
        "strong_route": routes[strong],
        "oracle": {"cost": float(oc[0]), "quality": float(oq[0])},
        "curve": curve,
        "operating_point_at_target": at_target,
        **metrics,
    }
    if n_boot > 0:
        result["ci95"] = bootstrap_intervals(choices, scores, costs, n_boot, seed, target_share)
        result["n_boot"] = int(n_boot)
    return result


_BOOT_KEYS = (
    "aiq",
    "aiq_zero_router",
    "aiq_gain",
    "apgr",
    "saving_at_target_hull",
    "cpt50_share",
    "cpt80_share",
)


def bootstrap_intervals(
    choices, scores, costs, n_boot: int = 1000, seed: int = 0, target_share: float = 0.95
) -> dict:
    """Percentile 95% intervals of the main metrics over ``n_boot`` resamples of the queries; a metric that is
    undefined in some resamples (e.g. a saving never reached) is reported over the resamples that define it,
    with ``undefined`` counting the others."""
    scores, costs = check_outcomes(scores, costs)
    n, n_routes = scores.shape
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)  # [b, n]
    rc, rq = points(choices, scores, costs, weights)  # [k, b]
    sc, sq = points(single_route_choices(n, n_routes), scores, costs, weights)
    values: dict[str, list[float]] = {k: [] for k in _BOOT_KEYS}
    undefined = dict.fromkeys(_BOOT_KEYS, 0)
    for b in range(n_boot):
        m = curve_metrics(rc[:, b], rq[:, b], sc[:, b], sq[:, b], target_share)
        for key in _BOOT_KEYS:
            if m[key] is None:
                undefined[key] += 1
            else:
                values[key].append(m[key])
    out = {}
    for key in _BOOT_KEYS:
        v = np.asarray(values[key])
        out[key] = {
            "lo": float(np.percentile(v, 2.5)) if len(v) else None,
            "hi": float(np.percentile(v, 97.5)) if len(v) else None,
            "undefined": undefined[key],
        }
    return out
