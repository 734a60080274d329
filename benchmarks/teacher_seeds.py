"""The teacher against itself: its recipe retrained with other seeds on the same split.

Issue 13 asks for a student that routes as its teacher does on >= 97% of the test texts. How often do two teachers
that differ only in their random seed (head initialisation, data order, dropout) route a test text the same way?
That is the reference a student's agreement can be read against: a student cannot be expected to copy the
decisions that the teacher's own recipe does not reproduce. For each seed this script refits the teacher folder's
recorded configuration (``train_config.json``: every ``auto`` field as decided, the time budget's cut included,
so the budget itself is switched off) on the folder's own train / val / test rows (``split.json``), then scores
each refit on the test split: macro F1, and agreement with the original teacher and with every other refit
(Wilson 95% intervals). Seed 42, the original's, checks that the refit reproduces it. ``--run`` adds the
agreement of that pipeline run's other artefacts (``compare.json``) for comparison::

    HF_HUB_OFFLINE=1 python benchmarks/teacher_seeds.py --teacher runs/demo/teacher --name demo --seeds 42,43,44,45
    python benchmarks/teacher_seeds.py --table          # the markdown tables, from docs/results/teacher_seeds.json

``--stability A,B`` (no refit) then splits that block's test texts into those every teacher routes alike and the
seed-dependent rest, and scores the model folders A, B on each: how many of an artefact's disagreements with the
original are texts on which the teacher's own recipe does not agree with itself::

    HF_HUB_OFFLINE=1 python benchmarks/teacher_seeds.py --teacher runs/demo/teacher --name demo \
        --stability runs/demo/student-int8,runs/demo/cascade
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results" / "teacher_seeds.json"


def teacher_split(teacher: Path, config, data_path: Path | None = None):
    """``(split, targets)``: the teacher's data (``data_path``, default the file ``router.json`` names) split
    exactly as `router train` split it - the same rows in the same order (the order feeds the batches) - checked
    against its ``split.json``."""
    from llm_router.data import load_dataset, split_dataset
    from llm_router.errors import RouterError
    from llm_router.persistence import read_router_json
    from llm_router.persistence.split import read_split
    from llm_router.train.targets import prepare_targets

    router, recorded_split = read_router_json(teacher), read_split(teacher)
    data = router["data"]
    path = data_path or data["path"]
    if not Path(path).exists():
        raise RouterError(f"{path}: no such data file (pass --data with the file {teacher} was trained on)")
    df, targets = prepare_targets(load_dataset(path, data["text_col"], data["label_col"]), config)
    split = split_dataset(
        df,
        test_size=recorded_split["test_size"],
        val_size=recorded_split["val_size"],
        seed=recorded_split["seed"],
        group_col=recorded_split.get("group_col"),
    )
    if any(sorted(split.hashes()[part]) != sorted(recorded_split[part]) for part in ("train", "val", "test")):
        raise RouterError(f"{path}: splitting it again does not give {teacher}/split.json")
    return split, targets


def stability(block: dict, teacher: Path, folders: list[Path], data_path: Path | None = None) -> dict:
    """Where the artefacts of ``folders`` disagree with the original teacher: on the test texts every teacher of
    ``block`` (the original and its refits) routes alike ("stable") or on the others ("seed-dependent")."""
    from llm_router.runtime import Predictor
    from llm_router.train.config import TrainConfig

    split, _ = teacher_split(teacher, TrainConfig.from_json(teacher / "train_config.json"), data_path)
    texts = split.test["text"].tolist()
    routes = block["routes"]
    stable = [len({r[i] for r in routes.values()}) == 1 for i in range(len(texts))]
    original = routes["original"]
    out = {"stable": sum(stable), "seed_dependent": len(texts) - sum(stable), "artefacts": {}}
    for folder in folders:
        pred = Predictor.load(folder, threads=1).predict(texts).routes
        same = [p == o for p, o in zip(pred, original, strict=True)]
        on = {
            kind: [s for s, st in zip(same, stable, strict=True) if st == want]
            for kind, want in (("stable", True), ("seed_dependent", False))
        }
        out["artefacts"][Path(folder).name] = {
            "agreement_stable": sum(on["stable"]) / max(1, len(on["stable"])),
            "agreement_seed_dependent": sum(on["seed_dependent"]) / max(1, len(on["seed_dependent"])),
            "disagreements": len(same) - sum(same),
            "disagreements_on_seed_dependent": len(on["seed_dependent"]) - sum(on["seed_dependent"]),
        }
    return out


def refit(teacher: Path, seeds: list[int], threads: int | None, data_path: Path | None = None) -> dict:
    """Refit ``teacher``'s recorded configuration with each seed on its split (of ``data_path``, default the file
    ``router.json`` names); test routes and scores of each."""
    from llm_router.eval.metrics import agreement, classification_report
    from llm_router.runtime import Predictor
    from llm_router.train.config import TrainConfig
    from llm_router.train.fit import fit

    recorded = TrainConfig.from_json(teacher / "train_config.json")
    config = dataclasses.replace(recorded, time_budget_s=0.0, threads=threads or recorded.threads)
    split, targets = teacher_split(teacher, config, data_path)
    replanned = [c for c in recorded.extra.get("recipe", []) if "re-planned" in str(c.get("reason"))]
    if replanned:
        print(f"note: {teacher}'s epochs were re-planned under its time budget ({replanned[-1]['reason']}); a refit "
              f"trains its {recorded.epochs} epochs on one schedule, so it differs from the original beyond the "
              "seed: compare the refits with each other", flush=True)  # fmt: skip
    test_texts = split.test["text"].tolist()
    gold = split.test["label"].tolist()
    original = Predictor.load(teacher, threads=threads).predict(test_texts).routes
    routes = {"original": original}
    runs = {}
    for seed in seeds:
        t0 = time.perf_counter()
        fitted = fit(
            split.train,
            split.val,
            dataclasses.replace(config, seed=seed),
            targets,
            exclude_texts=split.val["text"].tolist() + test_texts,
            progress=None,
        )
        pred, _ = fitted.predict_routes(test_texts)
        report = classification_report(gold, pred, targets.routes, seed=0)
        routes[str(seed)] = pred
        runs[str(seed)] = {
            "macro_f1": report["macro_f1"],
            "macro_f1_ci95": report["macro_f1_ci95"],
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(f"seed {seed}: test macro F1 {report['macro_f1']:.3f}, agreement with the original "
              f"{agreement(pred, original)['value']:.3f} ({runs[str(seed)]['seconds']:.0f} s)", flush=True)  # fmt: skip
    original_report = classification_report(gold, original, targets.routes, seed=0)
    return {
        "teacher": str(teacher),
        "model": recorded.model,
        "n_test": len(test_texts),
        "original_macro_f1": original_report["macro_f1"],
        "original_seed": recorded.seed,
        "original_schedule_replanned": bool(replanned),
        "runs": runs,
        "routes": routes,
    }


def pairwise(block: dict) -> dict:
    """Agreement of every pair of teachers (the original and each refit) on the test texts, with Wilson intervals;
    and, over the pairs of two *different* seeds, the mean and range (the reference for a student). The original
    counts as its own seed only when that seed was not refitted (its refit is the same model: one member, not two)."""
    from llm_router.eval.metrics import agreement

    routes = block["routes"]
    pairs = {}
    for a, b in itertools.combinations(routes, 2):
        share = agreement(routes[a], routes[b])
        pairs[f"{a}~{b}"] = {"agreement": share["value"], "ci95": share["ci95"]}
    original_seed = str(block.get("original_seed", 42))
    members = [k for k in routes if k != "original"]
    if original_seed not in members:
        members.append("original")
    different = [pairs.get(f"{a}~{b}", pairs.get(f"{b}~{a}")) for a, b in itertools.combinations(members, 2)]
    summary = {}
    if different:
        values = [d["agreement"] for d in different]
        summary = {
            "mean": sum(values) / len(values),
            "min": min(values),
            "max": max(values),
            "pairs": len(values),
        }
    return {"pairs": pairs, "different_seeds": summary}


def run_artefacts(run: Path) -> dict:
    """Agreement with the teacher of every artefact of a pipeline run's ``compare.json``."""
    rows = json.loads((run / "compare.json").read_text())
    return {r["model"]: r.get("agreement") for r in rows if r["model"] not in ("teacher",)}


def table(results: dict) -> str:
    """Markdown, one line per data set. "another seed ~ the original": each refit with a seed other than the
    original's against the original teacher, the comparison a student's agreement (also with the original) gets."""
    lines = [
        "| data | teacher | test texts | seeds refitted | macro F1 of the refits (original) | refit of the original's "
        "seed ~ original | another seed ~ the original: mean (range) | any two seeds: mean (range, pairs) | the "
        "run's artefacts ~ the original |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, block in results.items():
        if name == "meta":
            continue
        f1s = [r["macro_f1"] for r in block["runs"].values()]
        stats = pairwise(block)
        diff = stats["different_seeds"]
        seed = str(block.get("original_seed", 42))
        repro = stats["pairs"].get(f"original~{seed}", {}).get("agreement")
        others = [
            v["agreement"]
            for k, v in stats["pairs"].items()
            if k.startswith("original~") and k != f"original~{seed}"
        ]
        artefacts = ", ".join(
            f"{k} {v:.3f}" for k, v in (block.get("artefacts") or {}).items() if v is not None
        )
        lines.append(
            f"| {name} | {Path(block['model']).name} | {block['n_test']} | {', '.join(block['runs'])} | "
            f"{min(f1s):.3f}-{max(f1s):.3f} ({block['original_macro_f1']:.3f}) | "
            f"{'-' if repro is None else f'{repro:.3f}'} | "
            f"{sum(others) / len(others):.3f} ({min(others):.3f}-{max(others):.3f}) | "
            f"{diff['mean']:.3f} ({diff['min']:.3f}-{diff['max']:.3f}, {diff['pairs']}) | {artefacts or '-'} |"
        )
    return "\n".join(lines)


def stability_table(results: dict) -> str:
    """Markdown: per data set and artefact, its agreement with the original teacher on the stable and on the
    seed-dependent test texts, and how many of its disagreements fall on the seed-dependent ones."""
    lines = [
        "| data | test texts: stable / seed-dependent | artefact | agreement on stable texts | on seed-dependent "
        "texts | its disagreements on seed-dependent texts |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, block in results.items():
        info = block.get("stability") if name != "meta" else None
        for artefact, row in (info or {}).get("artefacts", {}).items():
            lines.append(
                f"| {name} | {info['stable']} / {info['seed_dependent']} | {artefact} | "
                f"{row['agreement_stable']:.3f} | {row['agreement_seed_dependent']:.3f} | "
                f"{row['disagreements_on_seed_dependent']} of {row['disagreements']} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", type=Path, help="A `router train` folder (kind hf) with its split.json.")
    parser.add_argument(
        "--name", help="Name of this block in the results file (e.g. demo, seed, routerbench)."
    )
    parser.add_argument("--seeds", default="42,43,44", help="Seeds to refit with (42: the original's).")
    parser.add_argument(
        "--run", type=Path, help="The teacher's pipeline run: its artefacts' agreement, for context."
    )
    parser.add_argument(
        "--data", type=Path, help="The teacher's data file (default: the one router.json names)."
    )
    parser.add_argument("--threads", type=int, help="Torch threads (default: the recorded configuration's).")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--table", action="store_true", help="Print the markdown tables and stop.")
    parser.add_argument(
        "--stability",
        help="Comma-separated model folders: where each disagrees with the original teacher, on the test texts "
        "that every teacher of the --name block routes alike or on the seed-dependent ones (no refit).",
    )
    args = parser.parse_args()
    from llm_router.eval.environment import describe_machine
    from llm_router.utils.files import atomic_write_json

    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    if args.stability:
        if not (args.teacher and args.name in results):
            parser.error("--stability needs --teacher and the --name of a block already in the results")
        folders = [Path(f) for f in args.stability.split(",") if f.strip()]
        results[args.name]["stability"] = stability(results[args.name], args.teacher, folders, args.data)
        atomic_write_json(args.results, results)
    elif not args.table:
        if not (args.teacher and args.name):
            parser.error("--teacher and --name are needed (or --table)")
        block = refit(args.teacher, [int(s) for s in args.seeds.split(",")], args.threads, args.data)
        if args.run:
            block["artefacts"] = run_artefacts(args.run)
        block["pairwise"] = pairwise(block)
        block["date"] = str(date.today())
        results[args.name] = block
        results["meta"] = {"machine": describe_machine()}
        atomic_write_json(args.results, results)
    print(table(results))
    print()
    print(stability_table(results))
    return 0


if __name__ == "__main__":
    from scale_common import run

    run(main)
