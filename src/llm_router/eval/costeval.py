"""`router costeval`: how much quality a router buys per unit of cost, on outcome data.

The data has, per query, the quality each route delivered (``score_<route>``) and what it cost
(``cost_<route>``), e.g. ``routerbench_3class.csv``. The model's (calibrated) route probabilities drive the cost
rule of :mod:`llm_router.runtime.policy` (expected quality minus ``lambda`` x cost); sweeping ``lambda`` from 0
(best expected quality) to very large (cheapest route everywhere) traces the router's cost-quality curve, which
:mod:`llm_router.eval.costquality` scores (AIQ, APGR, CPT, cost saving at 95% of the best single route, route
split, bootstrap intervals) against every single route, random mixing of them and the oracle.

Rows: with ``split_col``, the router is scored on rows where it equals ``split`` and the policy's route costs
and expected-quality table are fitted on rows where it equals ``fit_split``; without it, on the model's own
held-out test rows (``split.json``) with the table fitted on its train + validation rows.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llm_router.errors import RouterError
from llm_router.utils.files import check_replaceable

COSTEVAL_FILE = "costquality.json"

ORACLE_NOTE = (
    "every query has a route scoring the maximum, so the oracle's quality is the maximum by construction "
    "(routerbench_3class.csv dropped the rows where no model was right)"
)


@dataclass
class CostEvalConfig:
    """What `router costeval` measures; the defaults score a model on its own held-out rows of its own data.

    ``lambdas``: knob settings swept: 0 and ``lambdas - 1`` values geometrically spaced from 1e-3 to 1e3 divided
    by the spread of route costs (so the sweep reaches the cheapest route everywhere whatever the cost unit).
    ``target_share``: the quality target for the cost saving, as a share of the best single route's quality."""

    model: str
    data: str | None = None  # None: the data file named in the model's router.json
    text_col: str | None = None  # None: router.json's, else "text"
    label_col: str | None = None  # labels for the expected-quality table; None: router.json's, else "label"
    split_col: str | None = None
    split: str = "test"
    fit_split: str = "train"
    lambdas: int = 41
    n_boot: int = 1000
    seed: int = 0
    target_share: float = 0.95
    threads: int | None = None
    batch_size: int = 64
    out: str | None = None  # folder for costquality.json + costquality.png; None: <model folder>/costeval

    def __post_init__(self) -> None:
        if self.lambdas < 2:
            raise RouterError(f"--lambdas must be >= 2 (got {self.lambdas})")
        if self.n_boot < 0:
            raise RouterError(f"--bootstrap must be >= 0 (got {self.n_boot})")
        if not 0 < self.target_share <= 1:
            raise RouterError(f"the target share must be within (0, 1] (got {self.target_share})")


def has_outcome_columns(columns, routes) -> bool:
    """Whether a table has ``score_<route>`` and ``cost_<route>`` for every route."""
    columns = set(columns)
    return all(f"score_{r}" in columns and f"cost_{r}" in columns for r in routes)


def lambda_grid(costs: dict[str, float], count: int) -> list[float]:
    values = np.asarray(list(costs.values()), dtype=np.float64)
    spread = float(values.max() - values.min()) or float(abs(values.max())) or 1.0
    return [0.0, *(np.geomspace(1e-3, 1e3, count - 1) / spread).tolist()]


def _rows(cfg: CostEvalConfig, table, folder: Path, text_col: str):
    """(eval rows, fit rows or None, description)."""
    from llm_router.utils import read_json, text_hash

    if cfg.split_col:
        if cfg.split_col not in table.columns:
            raise RouterError(
                f"no column {cfg.split_col!r} in the data (columns: {', '.join(table.columns)})"
            )
        col = table[cfg.split_col].astype(str)
        ev, fit = table[col == cfg.split], table[col == cfg.fit_split]
        return ev, (fit if len(fit) else None), f"{cfg.split_col} == {cfg.split!r}, fit on {cfg.fit_split!r}"
    split_path = folder / "split.json"
    if not split_path.exists():
        return table, None, "all rows (the model has no split.json)"
    split = read_json(split_path)
    hashes = table[text_col].map(lambda t: text_hash(str(t).strip()))
    ev = table[hashes.isin(set(split.get("test") or []))]
    fit = table[hashes.isin(set(split.get("train") or []) | set(split.get("val") or []))]
    if len(ev) == 0:
        raise RouterError(f"none of the model's test rows ({split_path}) is in the data: pass --split-col")
    return ev, (fit if len(fit) else None), "the model's held-out test split, fit on its train + val rows"


def run_costeval(cfg: CostEvalConfig, progress=None) -> dict[str, Any]:
    """Sweep the cost rule's lambda, score the curve, write ``costquality.json`` + ``costquality.png`` (one
    atomic folder) and return the result."""
    from llm_router.data import read_table
    from llm_router.eval.costquality import evaluate_curve, points
    from llm_router.eval.plots import cost_quality_png
    from llm_router.runtime import Predictor
    from llm_router.runtime.policy import Policy, fit_outcome_model, outcome_columns
    from llm_router.utils import atomic_output_dir, atomic_write_json

    predictor = Predictor.load(cfg.model, threads=cfg.threads)
    folder, routes = predictor.path, list(predictor.routes)
    info = predictor.info.data or {}
    data = cfg.data or info.get("path")
    if not data:
        raise RouterError(f"{folder}: router.json names no data file: pass --data")
    out = Path(cfg.out) if cfg.out else folder / "costeval"
    check_replaceable(out, marker=COSTEVAL_FILE, keep=[folder, data])
    text_col = cfg.text_col or info.get("text_col") or "text"
    label_col = cfg.label_col or info.get("label_col") or "label"
    table = read_table(data)
    if text_col not in table.columns:
        raise RouterError(f"{data}: no text column {text_col!r} (columns: {', '.join(table.columns)})")
    score_cols, cost_cols = outcome_columns(table.columns, routes)
    for column in score_cols + cost_cols:  # read as text: a value that is not a number is named here
        values = pd.to_numeric(table[column], errors="coerce")
        if (values.isna() & table[column].notna()).any():
            raise RouterError(f"{data}: outcome column {column} holds values that are not numbers")
        table[column] = values
    table = table[table[text_col].map(lambda t: isinstance(t, str) and bool(t.strip()))]
    ev, fit, rows_note = _rows(cfg, table, folder, text_col)
    if len(ev) == 0:
        raise RouterError(f"{data}: no rows to evaluate ({rows_note})")
    scores = ev[score_cols].to_numpy(dtype=np.float64)
    costs = ev[cost_cols].to_numpy(dtype=np.float64)
    if fit is not None:
        labels = fit[label_col].astype(str).tolist() if label_col in fit.columns else None
        quality, mean_costs = fit_outcome_model(
            fit[score_cols].to_numpy(np.float64), fit[cost_cols].to_numpy(np.float64), labels, routes
        )
        fitted_on = f"{len(fit)} rows" + ("" if labels else " (no label column: quality = probability)")
    else:  # nothing else to fit on: route prices from the evaluated rows, quality = the route's probability
        quality, mean_costs = fit_outcome_model(scores, costs, None, routes)
        fitted_on = "route costs from the evaluated rows; quality = the route's probability"
    if progress:
        progress(f"routing {len(ev)} queries with {predictor.name}")
    logits = predictor.predict_logits(
        ev[text_col].astype(str).str.strip().tolist(), batch_size=cfg.batch_size
    )
    prediction = predictor.prediction_from_logits(logits)
    probs = prediction.route_probs
    policy = Policy(rule="cost", costs=mean_costs, quality=quality, source=fitted_on).compile(routes)
    lams = lambda_grid(mean_costs, cfg.lambdas)
    choices = np.stack([policy.decide(probs, lam)[0] for lam in lams])
    result = evaluate_curve(
        choices,
        scores,
        costs,
        routes,
        knobs=lams,
        n_boot=cfg.n_boot,
        seed=cfg.seed,
        target_share=cfg.target_share,
    )
    argmax = np.asarray(probs).argmax(axis=1)
    ac, aq = points(argmax, scores, costs)
    result.update(
        model=str(folder),
        data=str(data),
        rows=rows_note,
        policy_fitted_on=fitted_on,
        policy_costs=mean_costs,
        policy_quality=quality,
        temperature=float(getattr(predictor, "temperature", 1.0)),
        argmax_point={"cost": float(ac[0]), "quality": float(aq[0])},
        aiq_normalisation="mean of the non-decreasing hull over [cheapest, most expensive single route cost]",
        config=asdict(cfg),
    )
    max_score = float(scores.max())
    if np.all(scores.max(axis=1) >= max_score):
        result["oracle_note"] = ORACLE_NOTE
    with atomic_output_dir(out, marker=COSTEVAL_FILE) as tmp:
        atomic_write_json(tmp / COSTEVAL_FILE, result)
        cost_quality_png(
            result, tmp / "costquality.png", title=f"{folder.name} on {Path(data).name} ({len(ev)} q)"
        )
    result["out"] = str(out)
    return result


def _fmt(value, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def print_costeval(result: dict, console) -> None:
    """The headline numbers of :func:`run_costeval`, with their intervals."""
    from rich.table import Table

    ci = result.get("ci95", {})

    def with_ci(key: str, spec: str = ".3f") -> str:
        iv = ci.get(key)
        text = _fmt(result.get(key), spec)
        if iv and iv.get("lo") is not None:
            text += f" [{_fmt(iv['lo'], spec)}, {_fmt(iv['hi'], spec)}]"
        return text

    console.print(
        f"cost-quality of {result['model']} on {result['n']} queries ({result['rows']}); "
        f"policy fitted on {result['policy_fitted_on']}",
        highlight=False,
    )
    table = Table("system", "mean cost", "mean quality", title="single routes, router, oracle")
    for name, v in result["single_routes"].items():
        table.add_row(f"always {name}", f"{v['cost']:.6g}", f"{v['quality']:.3f}")
    table.add_row(
        "router, argmax", f"{result['argmax_point']['cost']:.6g}", f"{result['argmax_point']['quality']:.3f}"
    )
    op = result.get("operating_point_at_target")
    if op:
        table.add_row(
            f"router at 95% target (lambda {op['knob']:.4g})", f"{op['cost']:.6g}", f"{op['quality']:.3f}"
        )
    table.add_row("oracle", f"{result['oracle']['cost']:.6g}", f"{result['oracle']['quality']:.3f}")
    console.print(table)
    lines = [
        f"AIQ router {with_ci('aiq')} vs zero router {with_ci('aiq_zero_router')}; gain {with_ci('aiq_gain')} "
        f"({result['aiq_normalisation']})",
        f"APGR {with_ci('apgr')} (weak {result['weak_route']}, strong {result['strong_route']}); "
        f"CPT(50%) {_fmt(result.get('cpt50_share'), '.1%')} / CPT(80%) {_fmt(result.get('cpt80_share'), '.1%')} "
        "of the weak-to-strong cost gap",
        f"cost saving at {result['target_quality']:.3f} quality (95% of {result['strong_route']}): "
        f"{with_ci('saving_at_target_hull', '.2f')}x on the hull, {_fmt(result.get('saving_at_target_point'), '.2f')}x "
        "at a single lambda",
    ]
    if op:
        lines.append("route split there: " + ", ".join(f"{r} {s:.1%}" for r, s in op["split"].items()))
    if result.get("oracle_note"):
        lines.append(f"oracle: {result['oracle_note']}")
    lines.append(f"wrote {result['out']}/costquality.json and costquality.png")
    for line in lines:
        console.print(line, highlight=False, markup=False)


def costeval_if_outcomes(
    model: str | os.PathLike[str], out: str | os.PathLike[str], **options
) -> dict | None:
    """For the pipeline: :func:`run_costeval` on the model's own test split when its data has outcome columns
    for every route, else ``None``."""
    from llm_router.data import read_table
    from llm_router.persistence.router_json import read_router_info

    _, info = read_router_info(model)
    data = (info.data or {}).get("path")
    if not data or not Path(data).exists() or not has_outcome_columns(read_table(data).columns, info.routes):
        return None
    return run_costeval(CostEvalConfig(model=str(model), out=str(out), **options))
