"""Which artefact a run serves: the best on its *validation* split among those under the latency SLO.

The pipeline measured every artefact's batch-1 latency in ``compare.json`` (on the test split, in process) and this
module scores each one's macro F1 on the validation split (the test split stays for reporting, so the choice does
not peek at it). The served artefact is the one with the highest validation macro F1 whose batch-1 p99 is within
``p99_ms`` and whose throughput covers the served rate with headroom (``min_throughput``, on one inference thread:
the better of its batch-32 throughput and its batch-1 rate, 1000 / mean batch-1 ms - a server at a modest
rate forms small batches, and a cascade over long texts is slower per text at batch 32, where the teacher pads to
the longest); ties go to the faster one. A p99 measured above the SLO still counts as within it when the SLO lies
inside the p99's 95% interval (``p99_ci95_ms`` of ``compare.json``, from 300 timed calls): the measurement cannot
tell it from a pass, and the reason says so (the HTTP benchmark of the served artefact then shows its real tail).
When none is within the SLO, the fastest is served and the reason says so.

A validation split is small (61 texts on the demo set, 39 on the seed file), so the best validation macro F1 is
often not better than the next ones by more than chance. The artefacts within the SLO whose macro F1 is not
significantly below the best one (a paired bootstrap over the validation texts: the 95% interval of the
difference reaches zero) tie with it, and of a tie the one that agrees most with the teacher (the first
``compare`` row) is served: agreement needs no gold label, so it is measured on the validation texts and 8
augmented copies of each (as ``router cascade`` chooses its thresholds), hundreds of texts instead of dozens. A
TF-IDF baseline (``kind: linear``) is therefore served only when its validation lead is real, or when it agrees
with the teacher most - on RouterBench (2026-12-03) the pipeline served TF-IDF for a validation lead inside the
noise, and on test it scored 0.352 against the teacher's 0.402.
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


def _macro_f1(gold: list[str], routes: list[str], labels: list[str]) -> float:
    from llm_router.eval.metrics import classification_report

    return classification_report(gold, routes, labels, n_boot=0)["macro_f1"]


def _tied_with(
    top: dict, within: list[dict], gold: list[str] | None, routes: dict[str, list[str]]
) -> list[dict]:
    """``top`` and the artefacts whose validation macro F1 is not significantly below it (paired bootstrap)."""
    from llm_router.eval.metrics import f1_change_interval

    if not gold or top["model"] not in routes:
        return [top]
    group = [top]
    for c in within:
        if c is top or c["model"] not in routes:
            continue
        labels = sorted(set(gold) | set(routes[top["model"]]) | set(routes[c["model"]]))
        change, (lo, hi) = f1_change_interval(gold, routes[top["model"]], routes[c["model"]], labels, N_BOOT)
        c["val_f1_vs_best"] = {"points": change, "ci95": [lo, hi]}
        if hi >= 0:
            group.append(c)
    return group


def teacher_agreement(run: Path, reference: str, models: Sequence[str], threads: int = 1) -> dict[str, Any]:
    """Share of the validation texts and their augmented copies that each of ``models`` routes as ``reference``
    (run-folder names) does: ``{"agreement": {model: share}, "n_val", "n_copies"}``; empty when the reference
    has no validation split."""
    from llm_router.errors import RouterError
    from llm_router.eval.cascade import PROBE_COPIES, probe_texts
    from llm_router.persistence import load_folder_data
    from llm_router.runtime.predictor import Predictor

    try:
        data = load_folder_data(run / reference)
    except RouterError:
        return {}
    if data.val.empty:
        return {}
    copies = probe_texts(data, PROBE_COPIES)
    texts = [*data.val["text"].astype(str), *copies]
    ref = Predictor.load(run / reference, threads=threads).predict(texts).routes
    agreement = {}
    for model in models:
        routes = Predictor.load(run / model, threads=threads).predict(texts).routes
        agreement[model] = sum(a == b for a, b in zip(routes, ref, strict=True)) / len(texts)
    return {"agreement": agreement, "n_val": len(data.val), "n_copies": len(copies)}


def capacity(row: dict) -> float | None:
    """Texts/s a ``compare.json`` row can serve: the better of its batch-32 throughput and its batch-1 rate
    (1000 / ``mean_ms``); None when it has neither."""
    rates = [row.get("throughput_b32")]
    if row.get("mean_ms"):
        rates.append(1000.0 / row["mean_ms"])
    rates = [r for r in rates if r]
    return max(rates) if rates else None


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
    agreements: dict[str, float] | None = None,
) -> dict[str, Any]:
    """``{"artefact", "reason", "p99_slo_ms", "candidates": [{model, val_macro_f1, n_val, p99_ms, within_slo}]}``
    for the ``compare.json`` rows of run folder ``run``. ``min_throughput``: texts/s an artefact must reach on one
    inference thread (the better of ``throughput_b32`` and 1000 / ``mean_ms``, see :func:`capacity`) to count as
    within the SLO - the rate it will serve, with headroom, divided by what the server's inference threads are worth
    (the pipeline counts two as 1.5); a model slower than its traffic queues without bound whatever its batch-1
    latency. ``scores`` (model -> validation F1) skips the evaluation (tests); ``val_routes`` / ``val_gold`` then
    give the validation predictions for the tie test and ``agreements`` (model -> agreement with the teacher) the
    tie-break."""
    candidates = []
    routes_by_model: dict[str, list[str]] = dict(val_routes or {})
    gold = val_gold
    for row in rows:
        name = row["model"]
        rate = capacity(row)
        if scores is not None:
            f1, n_val = scores.get(name), None
        else:
            found = validation_routes(run / name, threads)
            f1, n_val = None, 0
            if found is not None:
                gold, routes_by_model[name], labels = found
                f1, n_val = _macro_f1(gold, routes_by_model[name], labels), len(gold)
        candidates.append(
            {
                "model": name,
                "baseline": row.get("kind") in BASELINE_KINDS,
                "val_macro_f1": f1,
                "n_val": n_val,
                "p99_ms": row["p99_ms"],
                "p99_ci95_ms": row.get("p99_ci95_ms"),
                "throughput_b32": row.get("throughput_b32"),
                "capacity": rate,
                "within_slo": _p99_within(row, p99_ms) and (rate or float("inf")) >= min_throughput,
            }
        )
    scored = [c for c in candidates if c["val_macro_f1"] is not None]
    within = [c for c in scored if c["within_slo"]]
    if within:
        top = max(within, key=lambda c: (c["val_macro_f1"], -c["p99_ms"]))
        tied = _tied_with(top, within, gold, routes_by_model)
        best, tie_note = top, ""
        if len(tied) > 1:
            names = [c["model"] for c in tied]
            measured = (
                {"agreement": agreements}
                if agreements is not None
                else teacher_agreement(run, rows[0]["model"], names, threads)
            )
            share = measured.get("agreement") or {}
            if share:
                for c in tied:
                    c["teacher_agreement"] = share.get(c["model"])
                best = max(tied, key=lambda c: (share.get(c["model"], -1.0), c["val_macro_f1"], -c["p99_ms"]))
                on = (
                    f"the {measured['n_val']} validation texts and {measured['n_copies']} augmented copies"
                    if "n_val" in measured
                    else "the validation texts"
                )
                tie_note = (
                    f"; {len(tied)} artefacts tie on validation macro F1 within the noise (paired bootstrap 95%, "
                    f"{len(gold or [])} texts: {', '.join(names)}), and {best['model']} agrees most with "
                    f"{rows[0]['model']} on {on} ("
                    + ", ".join(f"{c['model']} {100 * share.get(c['model'], 0):.1f}%" for c in tied)
                    + ")"
                )
        if best is top:
            reason = f"highest validation macro F1 ({best['val_macro_f1']:.3f})"
        else:
            d = best["val_f1_vs_best"]
            reason = (
                f"validation macro F1 {best['val_macro_f1']:.3f}, within the noise of the best ({top['model']} "
                f"{top['val_macro_f1']:.3f}: {d['points']:+.1f} points, 95% interval {d['ci95'][0]:+.1f} to "
                f"{d['ci95'][1]:+.1f})"
            )
        reason += (
            f" among the {len(within)} artefact(s) with batch-1 p99 <= {p99_ms:g} ms"
            + (f" and >= {min_throughput:.0f} texts/s on one inference thread" if min_throughput else "")
            + f" (its p99 {best['p99_ms']:.2f} ms"
            + (
                f", whose 95% interval {best['p99_ci95_ms'][0]:.2f}-{best['p99_ci95_ms'][1]:.2f} ms holds the SLO)"
                if best["p99_ms"] > p99_ms
                else ")"
            )
        )
        others = [c for c in scored if not c["within_slo"] and c["val_macro_f1"] > best["val_macro_f1"]]
        if others:  # the best of those left out, and why
            better = max(others, key=lambda c: c["val_macro_f1"])
            reason += f"; {better['model']} scores {better['val_macro_f1']:.3f} but " + (
                f"its p99 {better['p99_ms']:.2f} ms misses the SLO"
                if not _p99_within(better, p99_ms)
                else f"its {better['capacity']:.0f} texts/s on one inference thread are under the "
                f"{min_throughput:.0f} needed"
            )
        reason += tie_note
    else:
        pool = scored or candidates
        best = min(pool, key=lambda c: c["p99_ms"])
        reason = (
            f"no artefact has batch-1 p99 <= {p99_ms:g} ms on this machine; serving the fastest "
            f"(p99 {best['p99_ms']:.2f} ms)"
        )
    return {"artefact": best["model"], "reason": reason, "p99_slo_ms": p99_ms, "candidates": candidates}
