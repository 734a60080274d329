"""Which artefact a run serves: the best on its *validation* split among those under the latency SLO.

The pipeline measured every artefact's batch-1 latency in ``compare.json`` (on the test split, in process) and this
module scores each one's macro F1 on the validation split (the test split stays for reporting, so the choice does
not peek at it). The served artefact is the one with the highest validation macro F1 whose batch-1 p99 is within
``p99_ms`` and whose throughput covers the served rate with headroom (``min_throughput``); ties go to the faster
one. A p99 measured above the SLO still counts as within it when the SLO lies
inside the p99's 95% interval (``p99_ci95_ms`` of ``compare.json``, from 300 timed calls): the measurement cannot
tell it from a pass, and the reason says so (the HTTP benchmark of the served artefact then shows its real tail).
When none is within the SLO, the fastest is served and the reason says so.

A baseline (``kind: linear``, the TF-IDF model of ``router train --baselines``) replaces the fine-tuned models only
when its validation lead is real: when the best artefact within the SLO is a baseline, its macro F1 is compared
with the best fine-tuned artefact within the SLO by a paired bootstrap over the validation texts, and the
baseline is served only when the 95% interval of the difference lies above zero. On RouterBench (2026-12-03) the
pipeline served TF-IDF for a 0.404 vs 0.39x validation lead over ~290 texts, and on the test split it scored
0.352 against the teacher's 0.402: cross-validation ranks the fine-tuned encoder first on every data set we have
(docs/ABLATION.md), so a tie goes to it.
The choice and its reason are written to ``final.json`` in the run folder. The teacher's best epoch and the
cascade's thresholds were chosen on the same validation split, so their validation scores lean optimistic.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

BASELINE_KINDS = ("linear",)
N_BOOT = 1000


def validation_routes(folder: Path, threads: int = 1) -> tuple[list[str], list[str], list[str]] | None:
    """``(gold, predicted, labels)`` of a model folder on its own validation split (``split.json`` ``val``);
    None when it has none."""
    from llm_router.errors import RouterError
    from llm_router.eval.evaluate import held_out_split
    from llm_router.runtime.predictor import Predictor

    try:
        val = held_out_split(folder, "val")
    except RouterError:
        return None
    predictor = Predictor.load(folder, threads=threads)
    routes = list(predictor.predict(val["text"].astype(str).tolist()).routes)
    return val["label"].tolist(), routes, sorted(set(predictor.routes) | set(val["label"]))


def validation_f1(folder: Path, threads: int = 1) -> tuple[float | None, int]:
    """Macro F1 of a model folder on its own validation split; ``(None, 0)`` when it has none."""
    from llm_router.eval.metrics import classification_report

    found = validation_routes(folder, threads)
    if found is None:
        return None, 0
    gold, routes, labels = found
    return classification_report(gold, routes, labels, n_boot=0)["macro_f1"], len(gold)


def _baseline_lead(best: dict, alternative: dict, gold: list[str], routes: dict[str, list[str]]) -> tuple:
    """The baseline ``best``'s validation macro-F1 lead over ``alternative`` (points) and its paired bootstrap 95%
    interval."""
    from llm_router.eval.metrics import f1_change_interval

    labels = sorted(set(gold) | set(routes[best["model"]]) | set(routes[alternative["model"]]))
    return f1_change_interval(gold, routes[alternative["model"]], routes[best["model"]], labels, N_BOOT)


def _p99_within(row: dict, p99_ms: float) -> bool:
    """The p99 is within ``p99_ms``, or its 95% interval (``p99_ci95_ms``) reaches down to it."""
    interval = row.get("p99_ci95_ms")
    return row["p99_ms"] <= p99_ms or bool(interval and interval[0] <= p99_ms)


def choose_served(
    run: Path,
    rows: Sequence[dict],
    p99_ms: float,
    threads: int = 1,
    scores: dict[str, float | None] | None = None,
    min_throughput: float = 0.0,
    val_routes: dict[str, list[str]] | None = None,
    val_gold: list[str] | None = None,
) -> dict[str, Any]:
    """``{"artefact", "reason", "p99_slo_ms", "candidates": [{model, val_macro_f1, n_val, p99_ms, within_slo}]}``
    for the ``compare.json`` rows of run folder ``run``. ``min_throughput``: texts/s an artefact must reach at batch
    32 (``throughput_b32``) to count as within the SLO - the rate it will serve, with headroom; a model slower than
    its traffic queues without bound whatever its batch-1 latency. ``scores`` (model -> validation F1) skips the
    evaluation (tests); ``val_routes`` / ``val_gold`` then give the validation predictions for the baseline test."""
    from llm_router.eval.metrics import classification_report

    candidates = []
    routes_by_model: dict[str, list[str]] = dict(val_routes or {})
    gold = val_gold
    for row in rows:
        name = row["model"]
        if scores is not None:
            f1, n_val = scores.get(name), None
        else:
            found = validation_routes(run / name, threads)
            f1, n_val = None, 0
            if found is not None:
                gold, routes_by_model[name], labels = found
                f1, n_val = (
                    classification_report(gold, routes_by_model[name], labels, n_boot=0)["macro_f1"],
                    len(gold),
                )
        candidates.append(
            {
                "model": name,
                "baseline": row.get("kind") in BASELINE_KINDS,
                "val_macro_f1": f1,
                "n_val": n_val,
                "p99_ms": row["p99_ms"],
                "p99_ci95_ms": row.get("p99_ci95_ms"),
                "throughput_b32": row.get("throughput_b32"),
                "within_slo": _p99_within(row, p99_ms)
                and (row.get("throughput_b32") or float("inf")) >= min_throughput,
            }
        )
    scored = [c for c in candidates if c["val_macro_f1"] is not None]
    within = [c for c in scored if c["within_slo"]]
    if within:
        best = max(within, key=lambda c: (c["val_macro_f1"], -c["p99_ms"]))
        baseline_note = ""
        fine_tuned = [c for c in within if not c["baseline"]]
        if best["baseline"] and fine_tuned and gold and best["model"] in routes_by_model:
            alternative = max(fine_tuned, key=lambda c: (c["val_macro_f1"], -c["p99_ms"]))
            if alternative["model"] in routes_by_model:
                lead, (lo, hi) = _baseline_lead(best, alternative, gold, routes_by_model)
                verdict = "real" if lo > 0 else "within the noise"
                baseline_note = (
                    f"; {best['model']} leads {alternative['model']} on validation by {lead:+.1f} points of macro F1 "
                    f"(paired bootstrap 95% interval {lo:+.1f} to {hi:+.1f}, {len(gold)} texts): {verdict}"
                )
                if lo <= 0:
                    baseline_note += f", so the fine-tuned {alternative['model']} is served, not the baseline"
                    best = alternative
        others = [c for c in scored if c is not best and c["val_macro_f1"] > best["val_macro_f1"]]
        switched = baseline_note.endswith("not the baseline")
        reason = (
            (
                "highest validation macro F1 among the fine-tuned artefacts"
                if switched
                else "highest validation macro F1"
            )
            + f" ({best['val_macro_f1']:.3f}) among the {len(within)} artefact(s) with "
            f"batch-1 p99 <= {p99_ms:g} ms (its p99 {best['p99_ms']:.2f} ms"
            + (
                f", whose 95% interval {best['p99_ci95_ms'][0]:.2f}-{best['p99_ci95_ms'][1]:.2f} ms holds the SLO)"
                if best["p99_ms"] > p99_ms
                else ")"
            )
        )
        if others and not switched:
            better = max(others, key=lambda c: c["val_macro_f1"])
            reason += f"; {better['model']} scores {better['val_macro_f1']:.3f} but " + (
                f"its p99 {better['p99_ms']:.2f} ms misses the SLO"
                if not _p99_within(better, p99_ms)
                else f"its {better['throughput_b32']:.0f} texts/s are under the {min_throughput:g} needed"
            )
        reason += baseline_note
    else:
        pool = scored or candidates
        best = min(pool, key=lambda c: c["p99_ms"])
        reason = (
            f"no artefact has batch-1 p99 <= {p99_ms:g} ms on this machine; serving the fastest "
            f"(p99 {best['p99_ms']:.2f} ms)"
        )
    return {"artefact": best["model"], "reason": reason, "p99_slo_ms": p99_ms, "candidates": candidates}
