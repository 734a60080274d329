"""Per-route logit offsets fitted on the validation split for macro F1: do they move test macro F1?

A check for issue 14's RouterBench gap (teacher vs TF-IDF): on imbalanced routes a decision offset chosen on
validation often gains macro F1 there. This fits one offset per route (the first fixed at 0) on a grid by
validation macro F1 (ties: the smallest offsets), for each model folder of one pipeline run, and scores the test
split before and after. The models' log-softmax outputs are offset, so the grid means the same for any kind::

    HF_HUB_OFFLINE=1 python benchmarks/route_offsets.py --run runs/rb --models teacher,tfidf,static \\
        --json docs/results/route_offsets_rb.json

Every folder must come from the run (same split as ``RUN/teacher``).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
from scipy.special import log_softmax
from sklearn.metrics import f1_score


def macro_f1(logp: np.ndarray, gold: np.ndarray, offsets: np.ndarray) -> float:
    """Macro F1 of the routes ``logp + offsets`` picks."""
    return float(f1_score(gold, (logp + offsets).argmax(axis=1), average="macro"))


def fit_offsets(logp: np.ndarray, gold: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The offsets (first route 0) with the best macro F1 on ``logp``; ties go to the smallest total offset."""
    best_f1, best_size, best = -1.0, 0.0, np.zeros(logp.shape[1])
    for rest in itertools.product(grid, repeat=logp.shape[1] - 1):
        offsets = np.array([0.0, *rest])
        f1 = macro_f1(logp, gold, offsets)
        size = float(np.abs(offsets).sum())
        if f1 > best_f1 + 1e-12 or (abs(f1 - best_f1) <= 1e-12 and size < best_size):
            best_f1, best_size, best = f1, size, offsets
    return best


def score(folder: Path, val, test, grid: np.ndarray, threads: int) -> dict:
    from llm_router.runtime.predictor import Predictor

    predictor = Predictor.load(folder, threads=threads)
    labels = list(predictor.labels)
    parts = {}
    for name, frame in (("val", val), ("test", test)):
        logp = log_softmax(predictor.predict_logits(list(frame["text"]), batch_size=32), axis=1)
        parts[name] = (logp, np.array([labels.index(g) for g in frame["gold"]]))
    offsets = fit_offsets(*parts["val"], grid)
    zero = np.zeros(len(labels))
    return {
        "labels": labels,
        "offsets": offsets.tolist(),
        "val_macro_f1": [macro_f1(*parts["val"], zero), macro_f1(*parts["val"], offsets)],
        "test_macro_f1": [macro_f1(*parts["test"], zero), macro_f1(*parts["test"], offsets)],
        "n_val": len(val),
        "n_test": len(test),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", required=True, help="a `router pipeline` output folder")
    parser.add_argument("--models", default="teacher,tfidf", help="comma-separated model folders of the run")
    parser.add_argument("--step", type=float, default=0.1, help="grid step of the offsets")
    parser.add_argument("--span", type=float, default=3.0, help="offsets from -span to +span")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    from llm_router.persistence import load_folder_data

    run = Path(args.run)
    data = load_folder_data(run / "teacher")
    grid = np.round(np.arange(-args.span, args.span + args.step / 2, args.step), 6)
    results = {}
    for name in filter(None, (m.strip() for m in args.models.split(","))):
        results[name] = row = score(run / name, data.val, data.test, grid, args.threads)
        (v0, v1), (t0, t1) = row["val_macro_f1"], row["test_macro_f1"]
        print(
            f"{name}: offsets {row['offsets']}; validation macro F1 {v0:.3f} -> {v1:.3f}; test {t0:.3f} -> {t1:.3f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"run": str(run), "models": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
