"""Two views of the text: each pair of a run's artefacts blended (weight chosen on validation) vs each alone.

Reproduces the blend table of ``docs/ABLATION.md`` from pipeline run folders::

    HF_HUB_OFFLINE=1 python benchmarks/blend.py --run runs/demo --name demo
    HF_HUB_OFFLINE=1 python benchmarks/blend.py --run runs/demo --pairs teacher+tfidf,student-int8+tfidf

Every pair is :func:`llm_router.eval.ensemble.blend_eval` (both members trained on the run's one split). Results go
to ``--results`` (JSON, one block per ``--name``) and a markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PAIRS = "teacher+tfidf,student-int8+tfidf,static+tfidf,teacher+static"


def fmt_report(r: dict) -> str:
    lo, hi = r["macro_f1_ci95"]
    return f"{r['macro_f1']:.3f} [{lo:.3f}, {hi:.3f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, required=True, help="a `router pipeline` output folder")
    parser.add_argument("--name", default=None, help="results block name (default: the run folder's name)")
    parser.add_argument("--pairs", default=DEFAULT_PAIRS, help="A+B,... artefact folder names inside --run")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results" / "blend.json")
    args = parser.parse_args(argv)

    from llm_router.errors import RouterError
    from llm_router.eval.ensemble import blend_eval

    name = args.name or args.run.name
    rows = {}
    for pair in filter(None, args.pairs.split(",")):
        a, _, b = pair.partition("+")
        if not (args.run / a).is_dir() or not (args.run / b).is_dir():
            print(f"skip {pair}: {args.run} has no {a if not (args.run / a).is_dir() else b}")
            continue
        try:
            rows[pair] = blend_eval(args.run / a, args.run / b, threads=args.threads)
        except RouterError as exc:
            print(f"error: {pair}: {exc}", file=sys.stderr)
            return 2
    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    results[name] = {"run": str(args.run), "date": str(date.today()), "pairs": rows}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=1))
    print(f"| {name}: pair (A + B) | A alone | B alone | blend | weight of A | val texts |")
    print("|---|---|---|---|---|---|")
    for pair, r in rows.items():
        t = r["test"]
        print(
            f"| {pair} | {fmt_report(t['a'])} | {fmt_report(t['b'])} | {fmt_report(t['blend'])} | "
            f"{r['weight_a']:.1f} | {r['n_val']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
