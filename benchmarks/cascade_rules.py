"""Out of reach of its target, which cascade holds its agreement on unseen texts: the cheapest within one standard
error of the most agreeing (the rule until 2026-12-07) or the most agreeing (the rule since)?

`router cascade` scores every combination of thresholds on the validation texts and their augmented copies. When
none reaches the target agreement within the cost bound, one of them must be picked. This script takes one
pipeline run's levels (``RUN/cascade/cascade.json``: the levels, the reference and each level's cost as the
cascade stage timed it), predicts the validation texts + copies and the test texts once with every level, scores
every combination once, and for each cost bound picks with both rules; then it routes the test texts with each
pick and reports agreement with the reference and macro F1 against the gold routes::

    HF_HUB_OFFLINE=1 python benchmarks/cascade_rules.py --run runs/seed --bounds 5,7.5,10 \\
        --json docs/results/cascade_rules_seed.json

Agreement only: no latency is measured here (the costs are the run's own timings).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def level_tables(run: Path, copies: int, threads: int):
    """Every level's top probability and agreement with the reference on the validation texts + copies and on the
    test texts, the test routes, the gold test routes and the levels' costs (ms)."""
    from llm_router.eval.cascade import level_outputs, probe_texts
    from llm_router.persistence import load_folder_data, read_router_info
    from llm_router.runtime.predictor import Predictor

    report = json.loads((run / "cascade" / "cascade.json").read_text())
    levels = list(report["levels"])
    # cascade.json names the reference as a level is named: a folder, or "folder/model" for its model.onnx
    named = report.get("reference") or levels[-1]
    reference = next((p for p in (run / f"{named}.onnx", run / named) if p.exists()), run / levels[-1])
    data = load_folder_data(run / levels[-1])
    chosen_on = [*data.val["text"].astype(str), *probe_texts(data, copies)]
    test = list(data.test["text"].astype(str))
    routes = list(read_router_info(run / levels[-1])[1].routes)  # (the loop below loads each model once)
    tops, routed = {}, {}
    for name, path in [*((n, run / n) for n in levels), ("reference", reference)]:
        predictor = Predictor.load(path, threads=threads)
        for split, texts in (("chosen_on", chosen_on), ("test", test)):
            tops[name, split], routed[name, split] = level_outputs(predictor, texts, routes)
    agrees = {
        split: [
            np.array([a == b for a, b in zip(routed[n, split], routed["reference", split], strict=True)])
            for n in levels
        ]
        for split in ("chosen_on", "test")
    }
    top = {split: [tops[n, split] for n in levels] for split in ("chosen_on", "test")}
    test_routes = [routed[n, "test"] for n in levels]
    costs = [float(report["mean_ms"][n]) for n in levels]
    return levels, top, agrees, test_routes, list(data.test["route"]), costs


def one_standard_error_pick(scored, bound: float, target: float, n: int):
    """The retired rule: like :func:`llm_router.eval.cascade.pick_combination`, but out of reach of ``target``
    the cheapest whose agreement is within one standard error (sqrt(a (1 - a) / n)) of the highest."""
    from llm_router.eval.cascade import pick_combination

    fitting = [s for s in scored if s[2] <= bound]
    if not fitting or any(s[1] + 1e-12 >= target for s in fitting):
        return pick_combination(scored, target, bound)  # the leagues the two rules share
    highest = max(s[1] for s in fitting)
    floor = highest - np.sqrt(highest * (1 - highest) / n)
    return min((s for s in fitting if s[1] + 1e-12 >= floor), key=lambda s: (s[2], -s[1]))


def main() -> None:
    from rich.console import Console
    from rich.table import Table
    from sklearn.metrics import f1_score

    from llm_router.eval.cascade import PROBE_COPIES, pick_combination, score_combinations
    from llm_router.runtime.cascade import cascade_route

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", type=Path, required=True, help="a `router pipeline` run folder with a cascade"
    )
    parser.add_argument("--bounds", default="5,7.5,10", help="cost bounds, ms per text")
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--grid", type=int, default=60)
    parser.add_argument("--copies", type=int, default=PROBE_COPIES)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    levels, top, agrees, test_routes, gold, costs = level_tables(args.run, args.copies, args.threads)
    scored = score_combinations(top["chosen_on"], agrees["chosen_on"], costs, args.grid)
    n = len(top["chosen_on"][0])
    rows = []
    for bound in (float(b) for b in args.bounds.split(",")):
        for rule in ("one_standard_error", "highest"):
            if rule == "highest":  # the rule of `router cascade`
                thresholds, agreement, cost = pick_combination(scored, args.target, bound)
            else:
                thresholds, agreement, cost = one_standard_error_pick(scored, bound, args.target, n)
            answered = cascade_route(top["test"], thresholds)
            test_agree = float(np.mean([agrees["test"][a][i] for i, a in enumerate(answered)]))
            routes = [test_routes[a][i] for i, a in enumerate(answered)]
            shares = np.bincount(answered, minlength=len(levels)) / len(answered)
            rows.append(
                {
                    "bound_ms": bound,
                    "rule": rule,
                    "thresholds": thresholds,
                    "chosen_on_agreement": agreement,
                    "expected_ms": cost,
                    "test_agreement": test_agree,
                    "test_macro_f1": float(f1_score(gold, routes, average="macro")),
                    "test_shares": dict(zip(levels, shares.tolist(), strict=True)),
                }
            )
    table = Table(title=f"{args.run}: {n} validation texts + copies, {len(gold)} test texts")
    for col in (
        "bound ms",
        "rule",
        "val+copies agreement",
        "expected ms",
        "test agreement",
        "test macro F1",
        "test shares",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            f"{r['bound_ms']:g}",
            r["rule"],
            f"{r['chosen_on_agreement']:.3f}",
            f"{r['expected_ms']:.2f}",
            f"{r['test_agreement']:.3f}",
            f"{r['test_macro_f1']:.3f}",
            ", ".join(f"{k} {v:.0%}" for k, v in r["test_shares"].items() if v),
        )
    Console().print(table)
    if args.json:
        result = {
            "run": str(args.run),
            "levels": levels,
            "costs_ms": costs,
            "n_chosen_on": n,
            "n_test": len(gold),
            "target": args.target,
            "rows": rows,
        }
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
