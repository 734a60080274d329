"""Do augmented copies of the validation texts choose better cascade thresholds? One run folder, several
``--probe-copies`` values, each cascade scored on the test split.

For every value the script builds ``router cascade`` over the run's levels (``static -> student-int8 ->
teacher-int8`` where they exist) into a scratch folder, then routes the test split with it and with the fp32
teacher and the last level: test agreement with each (Wilson 95% interval), macro F1 with its bootstrap interval,
the share of test texts each level answered, and the expected cost the thresholds were chosen for. The test split
is read only here, never in the choice.

    HF_HUB_OFFLINE=1 python benchmarks/cascade_probe.py --run runs/demo --copies 0,8,16 \\
        --json docs/results/cascade_probe_demo.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    from llm_router.eval.cascade import CascadeConfig, build_cascade, level_outputs
    from llm_router.eval.environment import collect_environment
    from llm_router.eval.metrics import agreement, classification_report
    from llm_router.persistence import load_folder_data
    from llm_router.runtime import Predictor
    from llm_router.runtime.cascade import cascade_route

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="run folder of router pipeline")
    parser.add_argument("--levels", default="static,student-int8,teacher-int8")
    parser.add_argument("--reference", default="teacher", help="the fp32 teacher folder name in --run")
    parser.add_argument("--copies", default="0,8,16")
    parser.add_argument("--target", type=float, default=0.97)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    run = Path(args.run)
    levels = [str(run / name) for name in args.levels.split(",") if (run / name / "router.json").exists()]
    data = load_folder_data(run / args.reference)
    texts, gold = list(data.test["text"]), list(data.test["route"])
    teacher = Predictor.load(run / args.reference, threads=args.threads)
    routes = list(teacher.routes)
    teacher_routes = teacher.predict(texts, batch_size=1).routes
    # every level routes the test texts once, one at a time as the server does (dynamic INT8 depends on the batch)
    level_out = [
        level_outputs(Predictor.load(level, threads=args.threads), texts, routes, batch_size=1)
        for level in levels
    ]
    last_routes = level_out[-1][1]

    rows = []
    for copies in [int(c) for c in args.copies.split(",")]:
        with tempfile.TemporaryDirectory(dir=run) as tmp:
            started = time.perf_counter()
            report = build_cascade(
                CascadeConfig(
                    levels=levels,
                    out=str(Path(tmp) / "cascade"),
                    target_agreement=args.target,
                    threads=args.threads,
                    probe_copies=copies,
                )
            )
            seconds = time.perf_counter() - started
        answered = cascade_route([t for t, _ in level_out], report["thresholds"])
        chosen = [level_out[lv][1][j] for j, lv in enumerate(answered)]
        names = report["levels"]
        f1 = classification_report(gold, chosen, routes, n_boot=1000)
        rows.append(
            {
                "probe_copies": copies,
                "n_threshold_texts": report["n_val"] + report["n_copies"],
                "thresholds": report["thresholds"],
                "val_agreement": report["agreement"],
                "val_agreement_with_copies": report["agreement_with_copies"],
                "test_agreement_with_last_level": agreement(chosen, last_routes),
                "test_agreement_with_teacher": agreement(chosen, teacher_routes),
                "test_macro_f1": f1["macro_f1"],
                "test_macro_f1_ci95": f1.get("macro_f1_ci95"),
                "test_shares": {n: sum(a == i for a in answered) / len(texts) for i, n in enumerate(names)},
                "expected_ms": report["expected_ms"],
                "build_s": seconds,
            }
        )
        r = rows[-1]
        print(
            f"copies {copies:>2} ({r['n_threshold_texts']} texts): thresholds {r['thresholds']}; test agreement "
            f"with {names[-1]} {r['test_agreement_with_last_level']['value']:.3f}, with the teacher "
            f"{r['test_agreement_with_teacher']['value']:.3f}; macro F1 {r['test_macro_f1']:.3f}; shares "
            + ", ".join(f"{n} {100 * v:.0f}%" for n, v in r["test_shares"].items())
        )
    teacher_f1 = classification_report(gold, teacher_routes, routes, n_boot=0)["macro_f1"]
    result = {
        "run": str(run),
        "levels": [Path(level).name for level in levels],
        "n_test": len(texts),
        "teacher_test_macro_f1": teacher_f1,
        "last_level_agreement_with_teacher": agreement(last_routes, teacher_routes),
        "target_agreement": args.target,
        "cpu": collect_environment()["cpu"],
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/cascade_probe.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "rows": rows,
    }
    print(
        f"teacher test macro F1 {teacher_f1:.3f}; {result['levels'][-1]} agrees with it on "
        f"{result['last_level_agreement_with_teacher']['value']:.3f}"
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
