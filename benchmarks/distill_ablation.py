"""Distillation ablation: why the student loses its teacher's decisions, one factor at a time.

Reproduces the tables of ``docs/DISTILLATION.md``. Every row distils the same trained teacher folder (so every row
is scored on the same fixed test split) with :func:`llm_router.distill.distill.distill` - the code path of
``router distill`` - and one change to the pinned base configuration (the defaults before this ablation)::

    HF_HUB_OFFLINE=1 python benchmarks/distill_ablation.py --teacher runs/demo/teacher --name demo
    HF_HUB_OFFLINE=1 python benchmarks/distill_ablation.py --teacher runs/demo/teacher --name demo \\
        --rows base,no_prune --seeds 42,43,44                  # some rows, three seeds each
    python benchmarks/distill_ablation.py --list               # what the rows are

Each finished (row, seed) is stored in ``--results`` right away and skipped on the next run (``--force`` reruns it),
so the ablation can run in pieces; the markdown table is rebuilt from that file every time (``--table``).

Columns: route agreement with the teacher on the test split (Wilson 95% interval), student test macro F1 (bootstrap
95% interval from ``router eval``'s report), the epoch kept and its validation agreement / macro F1, the full-depth
teacher with the row's pruned vocabulary (what pruning alone costs), student parameters and wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEED_DATA = ROOT.parent / "shared" / "data" / "seed" / "labeled_data.csv"
ROUTERBENCH = ROOT.parent / "shared" / "data" / "routerbench" / "routerbench_3class.csv"

# The distillation defaults before this ablation, pinned so that a row keeps its meaning when the defaults move.
BASE: dict[str, Any] = {
    "student": "layers:2,5,8,11",  # 4 layers started evenly spaced: `layers:4` before the starting-layer rows
    "augment": "typo:2,spacing:1,swap:1,punct:1",
    "mix": 4,
    "max_transfer": 6000,
    "generate_below": 0,  # generated texts on any data size (the only behaviour before 2026-12-07)
    "alpha": 0.5,
    "temperature": 2.0,
    "hidden_weight": 1.0,
    "attention_weight": 0.0,
    "prune_vocab": True,
    "keep_chars": "script",
    "keep_frequent": 0,
    "freeze_embeddings": True,
    "epochs": 10,
    "learning_rate": 1e-4,
    "patience": 3,
    "select_on": "macro_f1",
    "time_budget_s": 0,  # no wall-clock budget existed then, and rows must not depend on the machine's load
}

# `best`: what became the defaults after the first rows (the teacher's whole vocabulary, epochs chosen on agreement)
BEST: dict[str, Any] = {"prune_vocab": False, "select_on": "agreement"}
# `best` started from the teacher's first four layers: the defaults since point 8
BOTTOM: dict[str, Any] = {**BEST, "student": "layers:0,1,2,3"}
# RouterBench's student as the pipeline trains it since 2026-12-07 (row first3_last6_epochs_4_transfer_train_only)
RB_DEFAULT: dict[str, Any] = {**BEST, "student": "layers:0,1,2,5", "epochs": 4, "augment": "", "mix": 0}

# name -> (what changes, overrides of BASE). "{other}" in a value is replaced by the --unlabeled file.
ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    "base": ("the defaults before this ablation", {}),
    # vocabulary
    "no_prune": ("no vocabulary pruning (the teacher's 250k pieces)", {"prune_vocab": False}),
    "keep_frequent_20k": ("pruning keeps 20k commonest pieces of the seen scripts", {"keep_frequent": 20000}),
    "keep_chars_seen": ("pruning keeps only seen characters (not whole scripts)", {"keep_chars": "seen"}),
    # epoch selection
    "select_agreement": (
        "keep the epoch with the best val agreement with the teacher",
        {"select_on": "agreement"},
    ),
    "select_kl": ("keep the epoch with the smallest val KL to the teacher", {"select_on": "kl"}),
    # depth
    "layers_2": ("2 layers", {"student": "layers:5,11"}),
    "layers_3": ("3 layers", {"student": "layers:3,7,11"}),
    "layers_6": ("6 layers", {"student": "layers:1,3,5,7,9,11"}),
    # loss
    "logits_only": ("no hidden-state loss (logits KD + CE only)", {"hidden_weight": 0.0}),
    "attention": ("+ attention-map loss (weight 1)", {"attention_weight": 1.0}),
    "pure_kd": ("KD only (alpha 0: no gold CE)", {"alpha": 0.0}),
    "temperature_1": ("KD temperature 1", {"temperature": 1.0}),
    "temperature_4": ("KD temperature 4", {"temperature": 4.0}),
    # transfer set
    "transfer_train_only": ("transfer set = training texts only", {"augment": "", "mix": 0}),
    "transfer_no_mix": ("augmented copies, no mixed texts", {"mix": 0}),
    "transfer_big": ("twice the mixed texts (mix 8, up to 12k)", {"mix": 8, "max_transfer": 12000}),
    "unlabeled_other": ("+ texts of another file, unlabelled (--unlabeled)", {"unlabeled": "{other}"}),
    # optimisation
    "epochs_20": ("20 epochs, patience 5", {"epochs": 20, "patience": 5}),
    "train_embeddings": ("embeddings trained too", {"freeze_embeddings": False}),
    "lr_3e-4": ("learning rate 3e-4", {"learning_rate": 3e-4}),
    # which teacher layers start the student, on top of `best` (the defaults since this ablation); the layers
    # matched by the hidden-state loss stay the evenly spaced ones (2, 5, 8, 11 of 12)
    "best_ref": (
        "best, again (the reference for the rows below)",
        BEST,
    ),
    "best_init_bottom": (
        "best, started from teacher layers 0,1,2,3",
        BOTTOM,
    ),
    "best_init_first": (
        "best, started from teacher layers 0,4,8,11",
        {**BEST, "student": "layers:0,4,8,11"},
    ),
    "best_init_top": (
        "best, started from teacher layers 8,9,10,11",
        {**BEST, "student": "layers:8,9,10,11"},
    ),
    "best_layers_6": (
        "best, 6 layers",
        {**BEST, "student": "layers:1,3,5,7,9,11"},
    ),
    "best_epochs_20": (
        "best, 20 epochs, patience 5",
        {**BEST, "epochs": 20, "patience": 5},
    ),
    # on top of `best_init_bottom` (the default start since point 8)
    "bottom_multi_temperature": (
        "best from layers 0-3, KD at temperatures 1, 2 and 4 (mean)",
        {**BOTTOM, "temperatures": "1,2,4"},
    ),
    "bottom_temperature_1": ("best from layers 0-3, KD temperature 1", {**BOTTOM, "temperature": 1.0}),
    # the pipeline's student (4 epochs, `router pipeline --student-epochs`), with KD temperature 2 and 1
    "bottom_epochs_4": ("best from layers 0-3, 4 epochs (the pipeline's student)", {**BOTTOM, "epochs": 4}),
    "bottom_epochs_4_temperature_1": (
        "best from layers 0-3, 4 epochs, KD temperature 1",
        {**BOTTOM, "epochs": 4, "temperature": 1.0},
    ),
    # 6-layer teachers (RouterBench's MiniLM-L6): the evenly spaced start `layers:4` meant before point 8
    "even6_epochs_4": (
        "best, 4 epochs, started from teacher layers 1,2,3,5 (evenly spaced of 6)",
        {**BEST, "student": "layers:1,2,3,5", "epochs": 4},
    ),
    "even6_epochs_4_temperature_1": (
        "best, 4 epochs, KD temperature 1, started from teacher layers 1,2,3,5 (evenly spaced of 6)",
        {**BEST, "student": "layers:1,2,3,5", "epochs": 4, "temperature": 1.0},
    ),
    # the first K-1 layers and the teacher's last (12-layer and 6-layer teachers)
    "first3_last12_epochs_4": (
        "best, 4 epochs, started from teacher layers 0,1,2,11 (first three + last of 12)",
        {**BEST, "student": "layers:0,1,2,11", "epochs": 4},
    ),
    "first3_last6_epochs_4": (
        "best, 4 epochs, started from teacher layers 0,1,2,5 (first three + last of 6)",
        {**BEST, "student": "layers:0,1,2,5", "epochs": 4},
    ),
    # the factors again on top of the default start since 2026-12-07 (first three + last), at the pipeline's 4 epochs,
    # for RouterBench's 6-layer teacher
    "first3_last6_epochs_4_logits_only": (
        "first three + last of 6, 4 epochs, no hidden-state loss",
        {**BEST, "student": "layers:0,1,2,5", "epochs": 4, "hidden_weight": 0.0},
    ),
    "first3_last6_epochs_4_transfer_train_only": (
        "first three + last of 6, 4 epochs, transfer set = training texts only",
        {**BEST, "student": "layers:0,1,2,5", "epochs": 4, "augment": "", "mix": 0},
    ),
    "first2_last6_epochs_4": (
        "3 layers: first two + last of 6, 4 epochs",
        {**BEST, "student": "layers:0,1,5", "epochs": 4},
    ),
    # the remaining factors on top of RouterBench's default since 2026-12-07 (first three + last, 4 epochs, the
    # training texts as the transfer set: --generate-below 1000 leaves generated texts out from 1,000 texts)
    "rb_default_layers_2": (
        "RouterBench default, 2 layers: first + last of 6",
        {**RB_DEFAULT, "student": "layers:0,5"},
    ),
    "rb_default_layers_3": (
        "RouterBench default, 3 layers: first two + last of 6",
        {**RB_DEFAULT, "student": "layers:0,1,5"},
    ),
    "rb_default_layers_5": (
        "RouterBench default, 5 layers: first four + last of 6",
        {**RB_DEFAULT, "student": "layers:0,1,2,3,5"},
    ),
    "rb_default_multi_temperature": (
        "RouterBench default, teacher labels at temperatures 1, 2 and 4",
        {**RB_DEFAULT, "temperatures": "1,2,4"},
    ),
    "rb_default_unlabeled_other": (
        "RouterBench default, + texts of another file, unlabelled (--unlabeled)",
        {**RB_DEFAULT, "unlabeled": "{other}"},
    ),
    "rb_default_prune_vocab": (
        "RouterBench default, vocabulary pruned to the seen scripts",
        {**RB_DEFAULT, "prune_vocab": True},
    ),
    "rb_default_select_f1": (
        "RouterBench default, keep the epoch with the best val macro F1 (not agreement)",
        {**RB_DEFAULT, "select_on": "macro_f1"},
    ),
    "rb_default_epochs_8": (
        "RouterBench default, 8 epochs",
        {**RB_DEFAULT, "epochs": 8},
    ),
    "bottom_logits_only": ("best from layers 0-3, no hidden-state loss", {**BOTTOM, "hidden_weight": 0.0}),
    "bottom_transfer_train_only": (
        "best from layers 0-3, transfer set = training texts only",
        {**BOTTOM, "augment": "", "mix": 0},
    ),
    "bottom_unlabeled_other": (
        "best from layers 0-3, + texts of another file, unlabelled (--unlabeled)",
        {**BOTTOM, "unlabeled": "{other}"},
    ),
    "bottom_transfer_4x": (
        "best from layers 0-3, four times the mixed texts (mix 16, up to 24k)",
        {**BOTTOM, "mix": 16, "max_transfer": 24000},
    ),
    "bottom_layers_6": (
        "best, 6 layers started from teacher layers 0-5",
        {**BEST, "student": "layers:0,1,2,3,4,5"},
    ),
    "bottom_epochs_20": (
        "best from layers 0-3, 20 epochs, patience 5",
        {**BOTTOM, "epochs": 20, "patience": 5},
    ),
    "bottom_train_embeddings": (
        "best from layers 0-3, embeddings trained too",
        {**BOTTOM, "freeze_embeddings": False},
    ),
}


def save_run(path: Path, name: str, row: str, seed: int, run: dict, meta: dict, change: str | None) -> dict:
    """Add one finished run to the results file under an exclusive lock (several ablation processes may share
    it: on 2 cores, two single-threaded runs finish sooner than one two-threaded run after another)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(path.read_text()) if path.exists() else {}
        block = results.setdefault(name, {"rows": {}, "changes": {}, "meta": {}})
        block["rows"].setdefault(row, {})[str(seed)] = run
        block["meta"].update(meta)
        if change is not None:
            block["changes"][row] = change
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(results, indent=1))
        tmp.replace(path)
    return results


def row_config(name: str, combined: dict | None, seed: int, unlabeled: dict | None, threads: int):
    from llm_router.distill.config import DistillConfig

    overrides = dict(combined if combined is not None else ROWS[name][1])
    if overrides.get("unlabeled") == "{other}":
        if not unlabeled:
            return None
        overrides.update(unlabeled)
    return DistillConfig(**{**BASE, **overrides, "seed": seed, "threads": threads})


def run_row(teacher: Path, config) -> dict:
    from llm_router.distill.distill import distill
    from llm_router.eval.metrics import wilson_interval

    out = Path(tempfile.mkdtemp(prefix="distill-ablation-")) / "student"
    t0 = time.perf_counter()
    try:
        result = distill(teacher, out, config)
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    info, metrics = result.info, result.metrics
    n = int(metrics.get("n") or 0)
    agreement = info["test_agreement_with_teacher"]
    pruned = (info.get("vocab") or {}).get("teacher_with_pruned_vocab") or {}
    return {
        "n_test": n,
        "agreement": agreement,
        "agreement_ci95": wilson_interval(round(agreement * n), n),
        "macro_f1": metrics.get("macro_f1"),
        "macro_f1_ci95": metrics.get("macro_f1_ci95"),
        "teacher_macro_f1": result.teacher_metrics.get("macro_f1"),
        "best_epoch": info.get("best_epoch"),
        "init_layers": info.get("init_layers"),
        "val_agreement": info.get("best_val_agreement"),
        "val_macro_f1": info.get("best_val_macro_f1"),
        "teacher_pruned_vocab_agreement": pruned.get("agreement"),
        "vocab_size": (info.get("vocab") or {}).get("new_vocab_size"),
        "transfer_n": info["transfer_set"]["n"],
        "student_params": info.get("student_params"),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def fmt(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def _mean(runs: list[dict], key: str) -> float | None:
    """Mean of ``key`` over the runs that have it (None when none has)."""
    values = [r[key] for r in runs if r.get(key) is not None]
    return sum(values) / len(values) if values else None


def _spread(runs: list[dict], key: str) -> str:
    """One run: its value and 95% interval (``key + "_ci95"``); several: their mean and the seeds' range."""
    if len(runs) == 1:
        lo, hi = runs[0][f"{key}_ci95"]
        return f"{fmt(runs[0][key])} [{fmt(lo)}, {fmt(hi)}]"
    values = [r[key] for r in runs]
    return f"{fmt(_mean(runs, key))} (seeds {fmt(min(values))}-{fmt(max(values))})"


def table(results: dict, name: str) -> str:
    """Markdown: one line per row (mean over its seeds; the range when there are several)."""
    block = results.get(name, {})
    lines = [
        "| row | change | seeds | agreement with teacher (95% CI) | macro F1 (95% CI) | val agreement | "
        "val F1 | kept epoch | teacher w/ pruned vocab: agreement | vocab | params | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row, runs in block.get("rows", {}).items():
        runs = list(runs.values())
        if not runs:
            continue
        first = runs[0]
        change = block.get("changes", {}).get(row) or ROWS.get(row, ("",))[0]
        lines.append(
            f"| {row} | {change} | {len(runs)} | {_spread(runs, 'agreement')} | {_spread(runs, 'macro_f1')} | "
            f"{fmt(_mean(runs, 'val_agreement'))} | {fmt(_mean(runs, 'val_macro_f1'))} | "
            f"{', '.join(str(r['best_epoch']) for r in runs)} | {fmt(first['teacher_pruned_vocab_agreement'])} | "
            f"{first['vocab_size'] or 'full'} | {first['student_params'] / 1e6:.1f}M | "
            f"{_mean(runs, 'seconds'):.0f} |"
        )
    meta = block.get("meta", {})
    head = (
        f"**{name}** - teacher `{meta.get('teacher')}` (test macro F1 {fmt(meta.get('teacher_macro_f1'))}, "
        f"{meta.get('n_test')} test texts); {meta.get('cpu')}, {meta.get('date')}.\n\n"
    )
    return head + "\n".join(lines) + "\n"


def parse_combined(text: str) -> dict:
    """``key=value,key=value`` -> overrides (JSON values: 6, 0.5, true, "layers:6" without quotes)."""
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--teacher", type=Path, help="trained teacher folder (router train / pipeline)")
    parser.add_argument("--name", default="demo", help="results block name (one per teacher / data set)")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated row names")
    parser.add_argument(
        "--combine",
        action="append",
        default=[],
        metavar="NAME:key=value,...",
        help="an extra row: BASE with these overrides, e.g. best:keep_frequent=20000,select_on=agreement",
    )
    parser.add_argument("--seeds", default="42")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads per run")
    parser.add_argument("--unlabeled", type=Path, help="file for the unlabeled_other row")
    parser.add_argument("--unlabeled-col", default="text")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results" / "distill_ablation.json")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--table", action="store_true", help="only print the table from --results")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)
    if args.list:
        for name, (change, overrides) in ROWS.items():
            print(f"{name:22s} {change}  {overrides}")
        return 0
    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    if args.table:
        print(table(results, args.name))
        return 0
    if args.teacher is None or not (args.teacher / "router.json").exists():
        print(f"error: --teacher {args.teacher} is not a model folder", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from llm_router.eval.environment import cpu_name

    meta = {
        "teacher": str(args.teacher),
        "cpu": f"{cpu_name()}, {os.cpu_count()} cores",
        "date": str(date.today()),
        "command": "python benchmarks/distill_ablation.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    unlabeled = (
        {"unlabeled": str(args.unlabeled), "unlabeled_col": args.unlabeled_col} if args.unlabeled else None
    )
    plan: list[tuple[str, dict | None, str | None]] = [
        (r, None, None) for r in filter(None, args.rows.split(","))
    ]
    for spec in args.combine:
        name, _, overrides = spec.partition(":")
        plan.append((name, parse_combined(overrides), overrides))
    for row, combined, change in plan:
        if combined is None and row not in ROWS:
            print(f"error: unknown row {row!r} (see --list)", file=sys.stderr)
            return 2
        for seed in (int(s) for s in args.seeds.split(",")):
            done = results.get(args.name, {}).get("rows", {}).get(row, {})
            if str(seed) in done and not args.force:
                continue
            config = row_config(row, combined, seed, unlabeled, args.threads)
            if config is None:
                print(f"skip {row}: needs --unlabeled")
                break
            print(f"== {args.name} / {row} / seed {seed}", flush=True)
            run = run_row(args.teacher, config)
            meta.update(teacher_macro_f1=run["teacher_macro_f1"], n_test=run["n_test"], threads=args.threads)
            results = save_run(args.results, args.name, row, seed, run, meta, change)
            print(json.dumps(run), flush=True)
    print(table(results, args.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
