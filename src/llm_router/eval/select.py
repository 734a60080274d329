"""Which artefact a run serves: the best on its *validation* split among those under the latency SLO.

The pipeline measured every artefact's batch-1 latency in ``compare.json`` (on the test split, in process) and this
module scores each one's macro F1 on the validation split (the test split stays for reporting, so the choice does
not peek at it). The served artefact is the one with the highest validation macro F1 whose batch-1 p99 is within
``p99_ms`` and whose throughput covers the served rate with headroom (``min_throughput``); ties go to the faster
one. A p99 measured above the SLO still counts as within it when the SLO lies
inside the p99's 95% interval (``p99_ci95_ms`` of ``compare.json``, from 300 timed calls): the measurement cannot
tell it from a pass, and the reason says so (the HTTP benchmark of the served artefact then shows its real tail).
When none is within the SLO, the fastest is served and the reason says so.
The choice and its reason are written to ``final.json`` in the run folder. The teacher's best epoch and the
cascade's thresholds were chosen on the same validation split, so their validation scores lean optimistic.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def validation_f1(folder: Path, threads: int = 1) -> tuple[float | None, int]:
    """Macro F1 of a model folder on its own validation split (``split.json`` ``val``); ``(None, 0)`` when it has
    none."""
    from llm_router.errors import RouterError
    from llm_router.eval.evaluate import held_out_split
    from llm_router.eval.metrics import classification_report
    from llm_router.runtime.predictor import Predictor

    try:
        val = held_out_split(folder, "val")
    except RouterError:
        return None, 0
    predictor = Predictor.load(folder, threads=threads)
    routes = predictor.predict(val["text"].astype(str).tolist()).routes
    labels = sorted(set(predictor.routes) | set(val["label"]))
    return classification_report(val["label"].tolist(), routes, labels, n_boot=0)["macro_f1"], len(val)


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
) -> dict[str, Any]:
    """``{"artefact", "reason", "p99_slo_ms", "candidates": [{model, val_macro_f1, n_val, p99_ms, within_slo}]}``
    for the ``compare.json`` rows of run folder ``run``. ``min_throughput``: texts/s an artefact must reach at batch
    32 (``throughput_b32``) to count as within the SLO - the rate it will serve, with headroom; a model slower than
    its traffic queues without bound whatever its batch-1 latency. ``scores`` (model -> validation F1) skips the
    evaluation (tests)."""
    candidates = []
    for row in rows:
        name = row["model"]
        if scores is not None:
            f1, n_val = scores.get(name), None
        else:
            f1, n_val = validation_f1(run / name, threads)
        candidates.append(
            {
                "model": name,
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
        others = [c for c in scored if c is not best and c["val_macro_f1"] > best["val_macro_f1"]]
        reason = (
            f"highest validation macro F1 ({best['val_macro_f1']:.3f}) among the {len(within)} artefact(s) with "
            f"batch-1 p99 <= {p99_ms:g} ms (its p99 {best['p99_ms']:.2f} ms"
            + (
                f", whose 95% interval {best['p99_ci95_ms'][0]:.2f}-{best['p99_ci95_ms'][1]:.2f} ms holds the SLO)"
                if best["p99_ms"] > p99_ms
                else ")"
            )
        )
        if others:
            better = max(others, key=lambda c: c["val_macro_f1"])
            reason += f"; {better['model']} scores {better['val_macro_f1']:.3f} but " + (
                f"its p99 {better['p99_ms']:.2f} ms misses the SLO"
                if not _p99_within(better, p99_ms)
                else f"its {better['throughput_b32']:.0f} texts/s are under the {min_throughput:g} needed"
            )
    else:
        pool = scored or candidates
        best = min(pool, key=lambda c: c["p99_ms"])
        reason = (
            f"no artefact has batch-1 p99 <= {p99_ms:g} ms on this machine; serving the fastest "
            f"(p99 {best['p99_ms']:.2f} ms)"
        )
    return {"artefact": best["model"], "reason": reason, "p99_slo_ms": p99_ms, "candidates": candidates}
