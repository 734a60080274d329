"""What a cascade's brownout costs: agreement with the fp32 teacher and macro F1 on the test split, with every
level, then without the most expensive one, two, ... (``CascadePredictor.predict_degraded``), one text at a time
as a server routes them at low load.

    HF_HUB_OFFLINE=1 python benchmarks/cascade_degraded.py --run runs/demo \\
        --json docs/results/cascade_degraded_quality_demo.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    from llm_router.eval.metrics import classification_report
    from llm_router.persistence import load_folder_data
    from llm_router.runtime.predictor import Predictor

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, type=Path, help="run folder of router pipeline")
    parser.add_argument("--cascade", default="cascade", help="the cascade folder in --run")
    parser.add_argument("--teacher", default="teacher", help="the fp32 teacher folder in --run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    data = load_folder_data(args.run / args.teacher)
    texts, gold = list(data.test["text"]), list(data.test["route"])
    cascade = Predictor.load(args.run / args.cascade, threads=args.threads)
    teacher = Predictor.load(args.run / args.teacher, threads=args.threads).predict(texts).routes
    rows = []
    for drop in range(len(cascade.level_predictors)):
        routes, levels = [], []
        for text in texts:
            pred = cascade.predict_degraded([text], 1, drop)
            routes.append(pred.routes[0])
            levels.append(int(pred.levels[0]))
        shares = np.bincount(levels, minlength=len(cascade.level_names)) / max(len(texts), 1)
        row = {
            "levels_left_out": drop,
            "agreement_with_teacher": float(np.mean([a == b for a, b in zip(routes, teacher, strict=True)])),
            "macro_f1": classification_report(gold, routes, cascade.routes, n_boot=0)["macro_f1"],
            "shares": dict(zip(cascade.level_names, np.round(shares, 4).tolist(), strict=True)),
        }
        rows.append(row)
        print(
            f"without the {drop} most expensive level(s): agreement {row['agreement_with_teacher']:.3f}, "
            f"macro F1 {row['macro_f1']:.3f}, answered by {row['shares']}"
        )
    if args.json:
        args.json.write_text(json.dumps({"run": str(args.run), "n_test": len(texts), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
