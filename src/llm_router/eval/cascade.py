"""`router cascade`: choose the thresholds of a confidence cascade on the validation split and write its folder.

The levels are model folders (or ``.onnx`` files in one), cheapest first; the last one answers whatever reaches
it. Agreement is measured against the *reference*: the last level, or ``reference`` (a model that is not served;
the pipeline gives the teacher's float ONNX export while the last level is its INT8 copy, whose own disagreements
with the teacher then count). Every level predicts the validation texts of the last level's ``split.json`` once;
each level's cost is its measured mean batch-1 latency. Then every combination of candidate thresholds (the
levels' observed top probabilities, thinned to at most ``grid`` values per level, plus "skip this level") is scored
with the same rule the runtime uses (:func:`llm_router.runtime.cascade.cascade_route`): agreement with the
reference and expected cost per text (the summed latency of the levels a text passes through). The cheapest
combination whose agreement reaches the target wins (ties: higher agreement, then higher thresholds). With
``max_cost_ms`` (what the served rate allows per text: the pipeline gives 1000 x parallelism / (2 x its rate), 5 ms
at 100 requests/s on one inference thread, 7.5 ms on two) only combinations within that cost count: a cascade that
cannot keep up with its traffic serves nobody, so on long texts it gives up some agreement rather than throughput.
When none of them reaches the target, the highest agreement within the bound wins (the cheapest of those). Until
2026-12-07 it was the cheapest within one standard error of the highest, to save the cost of "a few texts the
estimate cannot tell apart"; but the cheap levels' agreement on the validation texts and their copies is
optimistic (the demo student-int8: 95.5% there, 92.6% on the test split), so the texts it saved on were real:
on the test splits of the demo, seed and RouterBench runs at bounds of 5, 7.5 and 10 ms the highest-agreement
choice agreed with the teacher more often in 5 of 9 cases (demo 98.4% against 96.7%), as often in 3, and on 2 of
585 prompts less in one (`benchmarks/cascade_rules.py`; docs/DISTILLATION.md, "The cascade at its served rate").
The folder is written atomically; see docs/ARTEFACTS.md.

The expected cost is a model: each level timed alone on 30 texts. In the cascade the levels take turns (a level
that runs after the teacher finds its weights out of the caches), and the texts that reach a level are not a
random sample of lengths. So the chosen cascade is then *run* on all the texts, one at a time as the server routes
them, and its mean ms per text is ``measured_ms``. When a cost bound is set and the measurement is more than 5%
off the model, the thresholds are chosen again with each level's cost as measured inside the cascade (a level
the last thresholds skipped: timed alone again, scaled by measured / expected), up to ``measure_rounds`` choices in
all; of the measured rounds the one kept is the best by the same leagues, on measured cost. ``cost_rounds`` in
``cascade.json`` lists every round.

A mean cost within the bound does not make a short tail: on RouterBench's long prompts the teacher-int8 costs
12 ms on average and 27 ms at p99, and a cascade at 4.9 ms per text served 100 requests/s with a p99 of 57 ms.
With ``rate`` (the served requests/s) the measured per-text costs feed :func:`simulate_queue`, a first-come
first-served queue with Poisson arrivals at that rate and ``inference_workers`` servers (the inference threads of
`router serve`, at most the CPU count), and with ``max_p99_ms`` a round whose simulated p99 is above it tightens
the cost bound to 85% of its measured cost for the next choice (the pipeline gives its rate, its p99 SLO and the
server's inference threads).

Agreement with the last level needs no gold label, so the thresholds need not be chosen on the validation texts
alone: ``probe_copies`` augmented copies of each validation text (typos, spacing, word swaps, punctuation; never a
training or test text) are routed by every level too and join the texts the thresholds are chosen on. On a small
validation split (61 texts on the demo set: one text is 1.6 points of agreement) the cheapest thresholds that
reach the target on the few originals are chance; on ten times as many nearby texts they are an estimate.
``cascade.json`` reports the agreement on the originals and on all texts, each with its Wilson 95% interval
(the copies are correlated with their originals, so the interval on all texts is too narrow).
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llm_router.errors import RouterError
from llm_router.eval.metrics import wilson_interval
from llm_router.utils import atomic_output_dir, atomic_write_json
from llm_router.utils.files import check_replaceable

MAX_COMBINATIONS = 200_000
# augmented copies of each validation text that agreement is measured on (cascade, served choice)
PROBE_COPIES = 8
# the chosen cascade's measured cost may differ this much (relative) from the cost model before it is re-chosen
COST_MODEL_TOLERANCE = 0.05
# when the simulated p99 at the served rate is above its bound, the next choice may cost this share of the last
TIGHTEN = 0.85
QUEUE_REQUESTS = 50_000  # simulated arrivals


@dataclass
class CascadeConfig:
    """Every option of `router cascade`."""

    # model folders (or .onnx files in one), cheapest first; the last answers whatever reaches it
    levels: list[str]
    out: str
    # the model agreement is measured against (folder or .onnx file; not served); None: the last level. The
    # pipeline gives the teacher's float ONNX export, so that an INT8 last level's own disagreements count
    reference: str | None = None
    # share of validation texts (and their copies) routed as the reference routes them. 0.99 because the estimate
    # is optimistic: on the demo set 97% there became 94-95% on the test split, 99% became 96.7% (DISTILLATION.md)
    target_agreement: float = 0.99
    names: list[str] | None = None  # level names (default: the folder names)
    threads: int = 1  # inference threads of every level (here and when served)
    data: str | None = None  # the data file, if it moved (default: the last level's router.json)
    grid: int = 60  # at most this many candidate thresholds per level
    latency_calls: int = 30  # batch-1 calls timed per level (its cost)
    measure_rounds: int = 5  # runs of the chosen cascade (and re-choices) to keep it in its bounds
    absolute_paths: bool = False  # write absolute level paths (default: relative to the cascade folder)
    # augmented copies of each validation text added to the threshold choice (0 = none)
    probe_copies: int = PROBE_COPIES
    max_cost_ms: float | None = None  # expected batch-1 ms per text the thresholds may cost (None: no bound)
    rate: float | None = None  # requests/s it will serve: a queue of its measured costs is simulated at it
    # bound on that queue's p99 (None: none); a choice above it tightens the cost bound for the next one
    max_p99_ms: float | None = None
    # inference threads that will serve it in parallel (`router serve --inference-workers`, at most the CPU count):
    # the servers of the simulated queue
    inference_workers: int = 1
    seed: int = 0  # of the augmented copies

    def __post_init__(self) -> None:
        if len(self.levels) < 2:
            raise RouterError(f"a cascade needs at least two levels (got {len(self.levels)})")
        if not 0.0 < self.target_agreement <= 1.0:
            raise RouterError(f"--target-agreement must be in (0, 1] (got {self.target_agreement})")
        if self.names is not None and len(self.names) != len(self.levels):
            raise RouterError(f"{len(self.names)} names for {len(self.levels)} levels")
        if self.grid < 2:
            raise RouterError(f"grid must be >= 2 (got {self.grid})")
        if self.threads < 1:
            raise RouterError(f"threads must be >= 1 (got {self.threads})")
        if self.max_cost_ms is not None and not 0 < self.max_cost_ms < float("inf"):
            raise RouterError(f"max cost must be a number > 0 ms (got {self.max_cost_ms})")
        if self.probe_copies < 0:
            raise RouterError(f"probe copies must be >= 0 (got {self.probe_copies})")
        if self.inference_workers < 1:
            raise RouterError(f"inference workers must be >= 1 (got {self.inference_workers})")
        if self.measure_rounds < 1:
            raise RouterError(f"measure rounds must be >= 1 (got {self.measure_rounds})")
        if self.rate is not None and not 0 < self.rate < float("inf"):
            raise RouterError(f"rate must be a number > 0 requests/s (got {self.rate})")
        if self.max_p99_ms is not None and (not 0 < self.max_p99_ms < float("inf") or self.rate is None):
            raise RouterError(
                f"max p99 must be > 0 ms and needs a rate (got {self.max_p99_ms}, rate {self.rate})"
            )


def _candidates(top: np.ndarray, grid: int) -> list[float | None]:
    values = np.unique(np.asarray(top, dtype=np.float64))
    if len(values) > grid:
        values = np.unique(np.quantile(values, np.linspace(0.0, 1.0, grid)))
    return [None, *(float(v) for v in values)]


def score_combinations(
    top_probs: list[np.ndarray],
    agrees: list[np.ndarray],
    costs: list[float],
    grid: int = 60,
    always_paid: bool = False,
) -> list[tuple[list[float | None], float, float]]:
    """``(thresholds, agreement, expected cost)`` of every combination of candidate thresholds (at most ``grid``
    per level, fewer when the levels would make more than ``MAX_COMBINATIONS``; the last threshold is always None),
    routed as :func:`llm_router.runtime.cascade.cascade_route` routes. ``top_probs[i]`` / ``agrees[i]``: level i's
    top route probability per row and whether its route equals the reference's; ``costs[i]``: its cost per text.
    ``always_paid``: a skipped level still costs a text that passes it (the segments of an early-exit model,
    where only the exit head is skipped); else a skipped level costs nothing (a cascade of separate models)."""
    k = len(top_probs)
    n = len(top_probs[0])
    per_level = max(2, int(MAX_COMBINATIONS ** (1.0 / max(k - 1, 1))))
    cands = [_candidates(t, min(grid, per_level)) for t in top_probs[:-1]]
    agree = np.vstack([np.asarray(a, dtype=bool) for a in agrees])  # [k, n]
    cost = np.asarray(costs, dtype=np.float64)
    rows = np.arange(n)

    scored = []
    for combo in itertools.product(*cands):
        answered = np.full(n, k - 1, dtype=np.int64)
        pending = np.ones(n, dtype=bool)
        spent = np.zeros(n, dtype=np.float64)  # the summed cost of the levels each row passes through
        for i, threshold in enumerate(combo):
            if threshold is None:
                if always_paid:
                    spent[pending] += cost[i]
                continue
            spent[pending] += cost[i]
            take = pending & (top_probs[i] >= threshold)
            answered[take] = i
            pending &= ~take
        spent[pending] += cost[-1]
        agreement = float(agree[answered, rows].mean()) if n else 1.0
        scored.append(([*combo, None], agreement, float(spent.mean()) if n else 0.0))
    if not scored:  # cannot happen: there is always at least one combination
        raise RouterError("no thresholds to choose from")
    return scored


def pick_combination(
    scored: list[tuple[list[float | None], float, float]], target: float, max_cost: float | None = None
) -> tuple[list[float | None], float, float]:
    """The combination of :func:`score_combinations` that :func:`choose_thresholds` chooses: within ``max_cost``
    the cheapest reaching ``target``, else the cheapest of the highest agreement; nothing within it: the
    cheapest (ties: higher agreement, then higher thresholds)."""
    bound = float("inf") if max_cost is None else max_cost

    def cheapest_first(item) -> tuple:
        return (item[2], -item[1], tuple(-(t if t is not None else 2.0) for t in item[0][:-1]))

    return _pick_by_leagues(
        scored,
        fits=lambda item: item[2] <= bound,
        reached=lambda item: item[1] + 1e-12 >= target,
        agreement=lambda item: item[1],
        cheapest_first=cheapest_first,
        fallback_key=cheapest_first,  # nothing within the cost: the cheapest
    )


def choose_thresholds(
    top_probs: list[np.ndarray],
    agrees: list[np.ndarray],
    costs: list[float],
    target: float,
    grid: int = 60,
    max_cost: float | None = None,
    always_paid: bool = False,
) -> dict[str, Any]:
    """The cheapest thresholds reaching ``target`` agreement with the reference, within ``max_cost``.

    ``top_probs[i]`` / ``agrees[i]``: level i's top route probability per row and whether its route equals the
    reference's (the last level's own, or a separate reference's); ``costs[i]``: its cost per text. Only
    combinations with an expected cost <= ``max_cost`` count (all when None); when none of them reaches ``target``,
    the highest agreement wins (the cheapest of those), and when no combination is within ``max_cost`` the
    cheapest wins (:func:`score_combinations`, :func:`pick_combination`).
    Returns ``thresholds`` (None: skipped; the last is always None), ``agreement``, ``expected_cost``, ``shares``
    (per level), ``reached_target`` and ``within_cost``."""
    from llm_router.runtime.cascade import cascade_route

    thresholds, agreement, expected = pick_combination(
        score_combinations(top_probs, agrees, costs, grid, always_paid), target, max_cost
    )
    answered = cascade_route(top_probs, thresholds)
    shares = (np.bincount(answered, minlength=len(top_probs)) / max(len(top_probs[0]), 1)).tolist()
    return {
        "thresholds": thresholds,
        "agreement": agreement,
        "expected_cost": expected,
        "shares": shares,
        "reached_target": agreement + 1e-12 >= target,
        "within_cost": max_cost is None or expected <= max_cost,
    }


PROBE_AUGMENTERS = ("typo", "spacing", "swap", "punct")


def probe_texts(data, copies: int, seed: int = 0) -> list[str]:
    """Up to ``copies`` augmented variants of each validation text of ``data`` (a FolderData), spread over the
    offline augmenters; none equals a training, validation or test text."""
    if copies <= 0 or data.val.empty:
        return []
    return augmented_variants(data.val, copies, seed, list(data.train["text"]) + list(data.test["text"]))


def augmented_variants(frame, copies: int, seed: int, exclude_texts: list[str]) -> list[str]:
    """Up to ``copies`` variants of each text of ``frame`` (columns text, route), spread over
    :data:`PROBE_AUGMENTERS`; none equals a text of ``frame`` or of ``exclude_texts``."""
    from llm_router.data.augment import AugmentStep, augment_dataframe

    per = [
        copies // len(PROBE_AUGMENTERS) + (i < copies % len(PROBE_AUGMENTERS))
        for i in range(len(PROBE_AUGMENTERS))
    ]
    steps = [AugmentStep(name, n) for name, n in zip(PROBE_AUGMENTERS, per, strict=True) if n]
    out = augment_dataframe(
        frame[["text", "route"]],
        steps,
        seed=seed,
        label_col="route",
        scope="all",
        exclude_texts=exclude_texts,
    )
    return list(out.loc[out["augmented"] != "", "text"])


def level_outputs(
    predictor, texts: list[str], routes: list[str], batch_size: int = 64
) -> tuple[np.ndarray, list[str]]:
    """A level's top route probability and route per text, its columns in the order of ``routes``."""
    pred = predictor.predict(texts, batch_size=batch_size)
    columns = [predictor.routes.index(r) for r in routes]
    probs = np.asarray(pred.route_probs, dtype=np.float64)[:, columns]
    return probs.max(axis=1), [routes[i] for i in probs.argmax(axis=1)]


def _mean_latency_ms(predictor, texts: list[str], calls: int) -> float:
    """Mean batch-1 ms over ``calls`` texts spread evenly over ``texts`` (their lengths vary)."""
    for text in texts[:3]:
        predictor.predict_one(text)
    times = []
    for i in range(calls):
        text = texts[(i * len(texts)) // calls] if calls <= len(texts) else texts[i % len(texts)]
        start = time.perf_counter()
        predictor.predict_one(text)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.mean(times))


def simulate_queue(
    service_ms: np.ndarray, rate: float, n: int = QUEUE_REQUESTS, seed: int = 0, servers: int = 1
) -> dict[str, Any]:
    """Latency of ``servers`` inference threads routing requests one at a time, first come first served, when they
    arrive at ``rate`` per second (Poisson) and each costs a service time drawn from ``service_ms`` (the cascade's
    measured per-text costs): each arrival starts on the first thread free (with one server, Lindley's recursion
    ``wait[k] = max(0, wait[k-1] + service[k-1] - gap[k])``), over ``n`` arrivals. Returns the response time's
    ``p50_ms`` / ``p95_ms`` / ``p99_ms`` (wait + service) and the ``utilisation`` per server (rate x mean cost /
    servers). No HTTP, no client, one request per batch, threads that never slow each other down: a model of the
    served tail, not a measurement of it (`router bench` measures it)."""
    import heapq

    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1000.0 / rate, n))
    service = rng.choice(np.asarray(service_ms, dtype=np.float64), n)
    free_at = [0.0] * servers  # when each thread is next free (a heap)
    response = np.empty(n)
    for k in range(n):
        begin = max(float(arrivals[k]), heapq.heappop(free_at))
        heapq.heappush(free_at, begin + service[k])
        response[k] = begin + service[k] - arrivals[k]
    p50, p95, p99 = (float(v) for v in np.percentile(response, [50, 95, 99]))
    return {
        "rate": rate,
        "servers": servers,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "utilisation": rate * float(np.mean(service_ms)) / (1000.0 * servers),
    }


def _fits(measured_round: dict[str, Any], config: CascadeConfig) -> bool:
    """The round's measured cost is within ``max_cost_ms`` and its simulated p99 within ``max_p99_ms``."""
    queue = measured_round.get("queue")
    cost_ok = config.max_cost_ms is None or measured_round["measured_ms"] <= config.max_cost_ms
    tail_ok = config.max_p99_ms is None or queue is None or queue["p99_ms"] <= config.max_p99_ms
    return cost_ok and tail_ok


def _pick_by_leagues(items: list, *, fits, reached, agreement, cheapest_first, fallback_key):
    """The choice of a cascade's thresholds, in three leagues: of the items that ``fits`` (within the cost and tail
    bounds), the cheapest that ``reached`` the target; else, of those, the cheapest of the most agreeing (the
    bound is what the served rate allows, and the texts a cheaper choice would give up are real ones: see the
    module docstring); else the first by ``fallback_key``."""
    fitting = [it for it in items if fits(it)]
    hit = [it for it in fitting if reached(it)]
    if hit:
        return min(hit, key=cheapest_first)
    if fitting:
        highest = max(agreement(it) for it in fitting)
        return min((it for it in fitting if agreement(it) + 1e-12 >= highest), key=cheapest_first)
    return min(items, key=fallback_key)


def _kept_round(rounds: list[dict[str, Any]], config: CascadeConfig) -> dict[str, Any]:
    """The measured round kept - the leagues of :func:`choose_thresholds` on measured costs: within the bounds and
    reaching the target (cheapest); within the bounds (the cheapest of the highest agreement); the rest (shortest
    simulated tail, then cheapest)."""
    return _pick_by_leagues(
        rounds,
        fits=lambda r: _fits(r, config),
        reached=lambda r: r["chosen"]["reached_target"],
        agreement=lambda r: r["chosen"]["agreement"],
        cheapest_first=lambda r: (r["measured_ms"], -r["chosen"]["agreement"]),
        fallback_key=lambda r: (r["queue"]["p99_ms"] if r.get("queue") else 0.0, r["measured_ms"]),
    )


def measure_cascade(
    predictors: list, thresholds: list[float | None], answered: np.ndarray, texts: list[str]
) -> tuple[np.ndarray, list[float | None]]:
    """Route ``texts`` one at a time through the levels as :class:`~llm_router.runtime.cascade.CascadePredictor`
    does (``answered``: the level that answers each, from :func:`cascade_route`): every level a text passes
    through predicts it alone, in cascade order. Returns the ms each text cost and each level's mean ms per call
    inside the cascade (None for a level that no text reached)."""
    for text in texts[:3]:  # warm-up of the path itself
        for predictor in predictors:
            predictor.predict_one(text)
    last = len(predictors) - 1
    chain = [i for i, t in enumerate(thresholds) if t is not None and i < last]
    per_level: list[list[float]] = [[] for _ in predictors]
    totals = np.zeros(len(texts), dtype=np.float64)
    for j, text in enumerate(texts):
        for i in [*(i for i in chain if i < answered[j]), int(answered[j])]:
            start = time.perf_counter()
            predictors[i].predict_one(text)
            elapsed = 1e3 * (time.perf_counter() - start)
            per_level[i].append(elapsed)
            totals[j] += elapsed
    return totals, [float(np.mean(t)) if t else None for t in per_level]


def _folder_of(level: Path) -> Path:
    """The model folder of a level given as a folder or as an ``.onnx`` file inside one."""
    return level.parent if level.is_file() else level


def _level_name(path: Path) -> str:
    """A level's default name: its folder's, with the file's stem for an ``.onnx`` file (``teacher-int8/model``)."""
    return f"{path.parent.name}/{path.stem}" if path.is_file() else path.name


def build_cascade(config: CascadeConfig, console=None) -> dict[str, Any]:
    """Run `router cascade`: returns what ``cascade.json`` holds (thresholds, agreement, shares, F1, costs)."""
    from llm_router.eval.metrics import classification_report
    from llm_router.persistence import load_folder_data, read_router_info
    from llm_router.runtime.predictor import Predictor

    check_replaceable(config.out, keep=[*config.levels, config.reference])
    folders = []  # (the level as given: a folder or an .onnx file inside one, resolved; its router info)
    for level in config.levels:
        folder, info = read_router_info(level)
        if info.kind == "cascade":
            raise RouterError(f"{folder}: a cascade cannot be a level of another cascade")
        folders.append((Path(level).expanduser().resolve(), info))
    last_level, last_info = folders[-1]
    last_folder = _folder_of(last_level)  # its split.json and data are the cascade's
    routes = list(last_info.routes)
    reference_path = None if config.reference is None else Path(config.reference).expanduser().resolve()
    checked = folders + (
        [] if reference_path is None else [(reference_path, read_router_info(reference_path)[1])]
    )
    for folder, info in checked:  # before any level predicts: a bad reference fails at once
        if sorted(info.routes) != sorted(routes):
            raise RouterError(f"{folder}: routes {info.routes} differ from the last level's {routes}")
    names = list(config.names or [_level_name(f) for f, _ in folders])
    if len(set(names)) != len(names):
        raise RouterError(f"level names must differ (got {', '.join(names)}); pass names")
    out = Path(config.out).expanduser()
    if any(out.resolve() == _folder_of(f) for f, _ in folders):
        raise RouterError("--out must not be one of the levels")
    data = load_folder_data(last_folder, config.data)
    if data.val.empty:
        raise RouterError(f"{last_folder}/split.json has no validation rows to choose thresholds on")
    texts, gold = list(data.val["text"]), list(data.val["route"])
    n_val = len(texts)
    texts = texts + probe_texts(data, config.probe_copies, config.seed)

    tops, level_routes, costs, predictors = [], [], [], []
    for (folder, _info), name in zip(folders, names, strict=True):
        if console is not None:
            console.print(f"predicting {n_val} validation texts and {len(texts) - n_val} copies with {name}")
        predictor = Predictor.load(folder, device="cpu", threads=config.threads)
        predictor.warmup(1)
        top, predicted = level_outputs(predictor, texts, routes)
        tops.append(top)
        level_routes.append(predicted)
        costs.append(_mean_latency_ms(predictor, texts[:n_val], config.latency_calls))
        predictors.append(predictor)
    reference_name = names[-1]
    reference = level_routes[-1]
    if reference_path is not None:
        reference_name = _level_name(reference_path)
        if console is not None:
            console.print(f"predicting the same texts with the reference {reference_name}")
        _, reference = level_outputs(
            Predictor.load(reference_path, device="cpu", threads=config.threads), texts, routes
        )
    agrees = [np.array([a == b for a, b in zip(r, reference, strict=True)]) for r in level_routes]

    from llm_router.runtime.cascade import cascade_route

    rounds: list[dict[str, Any]] = []
    round_costs, bound = list(costs), config.max_cost_ms
    for _ in range(config.measure_rounds):
        chosen = choose_thresholds(tops, agrees, round_costs, config.target_agreement, config.grid, bound)
        if any(r["thresholds"] == chosen["thresholds"] for r in rounds):
            break  # the corrected costs chose thresholds already measured
        answered = cascade_route(tops, chosen["thresholds"])
        per_text, in_cascade = measure_cascade(predictors, chosen["thresholds"], answered, texts)
        measured = float(per_text.mean())
        queue = (
            simulate_queue(per_text, config.rate, servers=config.inference_workers) if config.rate else None
        )
        rounds.append(
            {
                "thresholds": chosen["thresholds"],
                "costs_ms": list(round_costs),
                "cost_bound_ms": bound,
                "expected_ms": chosen["expected_cost"],
                "measured_ms": measured,
                "in_cascade_ms": in_cascade,
                "queue": queue,
                "chosen": chosen,
            }
        )
        expected = max(chosen["expected_cost"], 1e-9)
        model_held = abs(measured - expected) <= COST_MODEL_TOLERANCE * expected
        if config.max_p99_ms is not None and queue is not None and queue["p99_ms"] > config.max_p99_ms:
            bound = TIGHTEN * min(measured, bound if bound is not None else measured)  # a cheaper cascade
        elif bound is None or model_held:
            break  # no bound to keep, or the cost model held
        # a level the cascade did not reach is timed again: its first timing may have caught the machine in a
        # slow moment (a fresh run once read 3.8 ms for a student-int8 that timed 2.4-2.6 ms in every other pass,
        # and the thresholds skipped it), and a skipped level is never measured inside the cascade
        round_costs = [
            c
            if c is not None
            else _mean_latency_ms(predictors[i], texts[:n_val], config.latency_calls) * measured / expected
            for i, c in enumerate(in_cascade)
        ]
    del predictors
    final = _kept_round(rounds, config)
    chosen = final["chosen"]
    answered = cascade_route(tops, chosen["thresholds"])
    cascade_routes = [level_routes[lv][j] for j, lv in enumerate(answered)]
    agree = np.array([a == b for a, b in zip(cascade_routes, reference, strict=True)])
    f1 = {
        name: classification_report(gold, r[:n_val], routes, n_boot=0)["macro_f1"]
        for name, r in zip(names, level_routes, strict=True)
    }
    f1["cascade"] = classification_report(gold, cascade_routes[:n_val], routes, n_boot=0)["macro_f1"]
    report = {
        "levels": names,
        "reference": reference_name,
        "thresholds": chosen["thresholds"],
        "target_agreement": config.target_agreement,
        "agreement": float(agree[:n_val].mean()),
        "agreement_ci95": list(wilson_interval(int(agree[:n_val].sum()), n_val)),
        "agreement_with_copies": chosen["agreement"],
        "agreement_with_copies_ci95": list(wilson_interval(int(agree.sum()), len(texts))),
        "n_val": n_val,
        "n_copies": len(texts) - n_val,
        "shares": dict(zip(names, chosen["shares"], strict=True)),
        "level_agreement": {name: float(np.mean(a[:n_val])) for name, a in zip(names, agrees, strict=True)},
        "mean_ms": dict(zip(names, costs, strict=True)),
        "expected_ms": chosen["expected_cost"],
        "measured_ms": final["measured_ms"],
        "mean_ms_in_cascade": dict(zip(names, final["in_cascade_ms"], strict=True)),
        "cost_rounds": [{k: v for k, v in r.items() if k != "chosen"} for r in rounds],
        "measured_within_cost": None
        if config.max_cost_ms is None
        else final["measured_ms"] <= config.max_cost_ms,
        "queue": final["queue"],
        "max_p99_ms": config.max_p99_ms,
        "cost_bound_ms": final["cost_bound_ms"],  # the bound the kept thresholds were chosen under
        "within_bounds": _fits(final, config),
        "max_cost_ms": config.max_cost_ms,
        "reached_target": chosen["reached_target"],
        "within_cost": chosen["within_cost"],
        "macro_f1_val": f1,
        "threads": config.threads,
        "config": asdict(config),
    }
    if n_val < 200:
        report["note"] = (
            f"{n_val} validation texts: one text is {100 / n_val:.1f} points of agreement (see agreement_ci95)"
            + (
                f"; thresholds chosen on them and {len(texts) - n_val} augmented copies"
                if len(texts) > n_val
                else ""
            )
        )

    with atomic_output_dir(out) as tmp:
        levels_json = []
        for (folder, _info), name, threshold in zip(folders, names, chosen["thresholds"], strict=True):
            path = str(folder) if config.absolute_paths else os.path.relpath(folder, out.resolve())
            levels_json.append({"name": name, "path": path, "threshold": threshold})
        router = {
            "format": "llm-router/1",
            "kind": "cascade",
            "labels": routes,
            "routes": routes,
            "route_map": None,
            "levels": levels_json,
            "target_agreement": config.target_agreement,
            "reference": reference_name,
            "data": last_info.data,
            "created_by": "router cascade",
        }
        atomic_write_json(tmp / "router.json", router)
        shutil.copyfile(last_folder / "split.json", tmp / "split.json")
        atomic_write_json(tmp / "cascade.json", report)
    report["out"] = str(out)
    return report


def cascade_summary(report: dict[str, Any]) -> str:
    """One line: levels with thresholds and shares, agreement (interval), expected cost."""
    parts = []
    for name, threshold in zip(report["levels"], report["thresholds"], strict=True):
        share = report["shares"][name]
        if threshold is None and name != report["levels"][-1]:
            parts.append(f"{name} skipped")
        else:
            at = f" >= {threshold:.3f}" if threshold is not None else ""
            parts.append(f"{name}{at} answers {100 * share:.0f}%")
    lo, hi = report["agreement_ci95"]
    return (
        f"{' -> '.join(parts)}; agreement with {report.get('reference') or report['levels'][-1]} "
        f"{100 * report['agreement']:.1f}% "
        f"(95% {100 * lo:.0f}-{100 * hi:.0f}%, {report['n_val']} val texts"
        + (
            f"; {100 * report['agreement_with_copies']:.1f}% with {report['n_copies']} augmented copies"
            if report.get("n_copies")
            else ""
        )
        + f"), expected {report['expected_ms']:.2f} ms/text batch 1"
        + (f", measured {report['measured_ms']:.2f}" if report.get("measured_ms") is not None else "")
        + (
            f", simulated p99 {report['queue']['p99_ms']:.1f} ms at {report['queue']['rate']:g} requests/s"
            f" on {report['queue'].get('servers', 1)} inference thread(s)"
            if report.get("queue")
            else ""
        )
        + (f" ({len(report['cost_rounds'])} cost rounds)" if len(report.get("cost_rounds") or []) > 1 else "")
        + (
            f" (the target {100 * report['target_agreement']:.0f}% costs more than the {report['max_cost_ms']:.1f} ms "
            "the served rate allows: the highest agreement within it)"
            if report.get("reached_target") is False and report.get("within_cost")
            else ""
        )
        + (
            f" (no thresholds within {report['max_cost_ms']:.1f} ms: the cheapest)"
            if report.get("within_cost") is False
            else ""
        )
        + (
            f" (cost bound tightened to {report['cost_bound_ms']:.2f} ms for the simulated p99 <= "
            f"{report['max_p99_ms']:g} ms)"
            if report.get("cost_bound_ms") is not None
            and report.get("max_cost_ms") is not None
            and report["cost_bound_ms"] < report["max_cost_ms"]
            else ""
        )
        + (
            f" (outside its bounds after {len(report['cost_rounds'])} rounds: the closest)"
            if report.get("within_bounds") is False
            else ""
        )
    )
