"""`router report`: REPORT.md + PNGs for a `router pipeline` run folder, built only from the JSON the stages wrote,
so every number in the report is one a stage printed.

Run-folder layout read here (written by :mod:`llm_router.pipeline`):
``pipeline.json`` (config, stage timings and one-line results), ``environment.json``, ``analysis.json``,
``eval/<artefact>.json`` (classification reports on the shared test split), ``compare.json`` / ``compare.png``,
``bench/summary.json`` (which HTTP runs exist) and ``bench/<name>.json`` (load-generator results),
``bench/inprocess.json``.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from llm_router.eval.environment import describe_machine
from llm_router.utils import atomic_write_text, read_json


def _load(path: Path, expected: type = dict):
    """The JSON in ``path`` when it exists, parses and is of the ``expected`` type (a run folder a user edited or
    damaged is reported from what is readable), else None."""
    try:
        value = read_json(path) if path.exists() else None
    except (OSError, ValueError):
        return None
    return value if isinstance(value, expected) else None


def _f(v, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _ms(v) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def latency_cdf_png(results: dict[str, dict], path: str | os.PathLike[str], title: str = "") -> Path | None:
    """Latency CDF (log x) of each HTTP run, decoded from the load generator's HDR histograms."""
    from hdrh.histogram import HdrHistogram

    from llm_router.eval.plots import _pyplot

    curves = {}
    for name, res in results.items():
        blob = res.get("hdr_latency_us")
        if not blob:
            continue
        hist = HdrHistogram.decode(base64.b64decode(blob))
        pts = [
            (hist.get_value_at_percentile(p) / 1000.0, p / 100.0)
            for p in [i / 10 for i in range(0, 1000)] + [99.5, 99.9, 99.99, 100.0]
        ]
        curves[name] = pts
    if not curves:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, pts in curves.items():
        xs, ys = zip(*pts, strict=True)
        ax.plot([max(x, 0.01) for x in xs], ys, label=name)
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.set_xlabel("latency from scheduled send (ms, log scale)")
    ax.set_ylabel("fraction of requests")
    ax.axvline(50, color="red", linestyle="--", linewidth=1, label="50 ms SLO")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _confused_pairs(ev: dict) -> list[tuple[str, str, int]]:
    labels, cm = ev["labels"], ev["confusion_matrix"]
    pairs = [
        (labels[i], labels[j], cm[i][j])
        for i in range(len(labels))
        for j in range(len(labels))
        if i != j and cm[i][j]
    ]
    return sorted(pairs, key=lambda t: -t[2])


def _teacher_max_length(run: Path):
    router = _load(run / "teacher" / "router.json") or {}
    return router.get("max_length", "n/a")


def _baselines_section(baselines: dict | None) -> list[str]:
    """The teacher against TF-IDF + LR and frozen-encoder + LR on its own split (``baselines.json``)."""
    if not baselines:
        return []
    rows = [["teacher (fine-tuned)", _f(baselines.get("teacher_val_macro_f1")), "see above"]]
    for name, row in baselines["baselines"].items():
        label = {"tfidf": "TF-IDF + LR (served as `tfidf`)", "frozen": f"frozen {row.get('model')} + LR"}.get(
            name, name
        )
        rows.append(
            [
                label,
                _f(row.get("val_macro_f1")),
                _f(row.get("test_macro_f1")) if "error" not in row else row["error"],
            ]
        )
    return [
        "### Baselines on the same split (`baselines.json`)",
        "",
        _table(["model", "validation macro F1", "test macro F1"], rows),
        "",
        f"Verdict: {baselines['verdict']}.",
        "",
    ]


@dataclass
class _Run:
    """What a run folder holds, loaded once for every section of the report."""

    path: Path
    state: dict
    cfg: dict
    env: dict
    analysis: dict
    compare: list
    bench_summary: list
    inproc: dict | None
    evals: dict
    split: dict

    @classmethod
    def load(cls, run: Path) -> _Run:
        from llm_router.errors import RouterError

        state = _load(run / "pipeline.json")
        if state is None or not isinstance(state.get("stages", {}), dict):
            raise RouterError(f"{run}: no readable pipeline.json - not a `router pipeline` run folder")
        evals = {
            p.stem: value for p in sorted((run / "eval").glob("*.json")) if (value := _load(p)) is not None
        }
        return cls(
            path=run,
            state=state,
            cfg=state.get("config", {}),
            env=_load(run / "environment.json") or {},
            analysis=_load(run / "analysis.json") or {},
            compare=_load(run / "compare.json", list) or [],
            bench_summary=_load(run / "bench" / "summary.json", list) or [],
            inproc=_load(run / "bench" / "inprocess.json"),
            evals=evals,
            split=_load(run / "teacher" / "split.json") or {},
        )

    def bench_row(self, role: str) -> dict | None:
        return next((b for b in self.bench_summary if b.get("role") == role), None)

    def bench_result(self, row: dict) -> dict:
        return _load(self.path / "bench" / row["file"]) or {}

    def load_texts_source(self) -> str:
        """Where the HTTP rows' request texts came from (runs before 2026-12-07 drew from the whole data set)."""
        after = self.bench_row("after")
        split = (
            ((self.bench_result(after).get("config") or {}).get("bench") or {}).get("split")
            if after
            else None
        )
        return f"the {split} split's texts" if split else "all texts of the data set, training texts included"


def conclusion_line(c: dict) -> str:
    """The conclusion in one line (what `router report` and the pipeline's report stage print); a value a damaged
    run folder lacks reads n/a."""
    verdict = "meets" if c.get("meets_slo") else "misses"
    rps = f"{c['rps']:g}" if isinstance(c.get("rps"), int | float) else "n/a"
    f1 = f"{c['macro_f1']:.3f}" if isinstance(c.get("macro_f1"), int | float) else "n/a"
    return (
        f"{c.get('strategy')} {verdict} the SLO (p95 {c.get('p95_ms')} ms, p99 {c.get('p99_ms')} ms at {rps} "
        f"req/s), macro F1 {f1}"
    )


def build_report(run_dir: str | os.PathLike[str], command: str | None = None) -> dict:
    """Write ``REPORT.md`` (+ PNGs) into ``run_dir`` and return a summary dict (conclusion and key numbers)."""
    run = _Run.load(Path(run_dir))
    cmd = command or run.state.get("command") or "router pipeline"
    md: list[str] = [
        f"# Router report: `{run.path}`",
        "",
        f"Produced by `{cmd}` then `router report --run {run.path}`. Every number below was printed by a stage of "
        "that run and is stored in the JSON files of the run folder.",
        "",
    ]
    conclusion, conclusion_md = _conclusion(run)  # conclusion first: what a reader wants to know
    md += conclusion_md
    md += _environment(run)
    md += _before_after(run)
    md += _steps(run)
    md += _compare_table(run)
    md += _inprocess_tables(run)
    md += _limits(run)
    md += _before_vs_after_line(run)
    text = "\n".join(md) + "\n"
    atomic_write_text(run.path / "REPORT.md", text)
    return {"report": str(run.path / "REPORT.md"), "conclusion": conclusion}


def _conclusion(run: _Run) -> tuple[dict, list[str]]:
    """The served system's quality and latency against the SLO, and the highest rate found."""
    final = run.bench_row("after")
    if not final:
        return {}, []
    cfg, slo = run.cfg, run.cfg.get("slo_ms", 50)
    fres = run.bench_result(final)
    fev = run.evals.get(final["artefact"], {})
    ok95 = fres.get("p95_ms") is not None and fres["p95_ms"] < slo and not fres.get("errors")
    ok99 = fres.get("p99_ms") is not None and fres["p99_ms"] < slo and not fres.get("errors")
    conclusion = {
        "strategy": final["system"],
        "macro_f1": fev.get("macro_f1"),
        "accuracy": fev.get("accuracy"),
        "p95_ms": fres.get("p95_ms"),
        "p99_ms": fres.get("p99_ms"),
        "rps": fres.get("target_rps"),
        "achieved_rps": fres.get("achieved_rps"),
        "errors": fres.get("errors"),
        "meets_slo": bool(ok95 and ok99),
    }
    fm = _load(run.path / "bench" / "find_max.json")
    if fm:
        conclusion["max_rps"] = fm.get("max_rps")
    verdict = "meets" if conclusion["meets_slo"] else "does NOT meet"
    md = [
        "## Conclusion",
        "",
        f"**{final['system']}** ({final['serving']}) {verdict} the requirement of {_f(fres.get('target_rps'), 0)} "
        f"requests/s with p95 and p99 under {cfg.get('slo_ms', 50):g} ms on this machine: p95 "
        f"{_ms(fres.get('p95_ms'))} ms, p99 {_ms(fres.get('p99_ms'))} ms, {fres.get('errors', 'n/a')} errors, "
        f"while keeping macro F1 {_f(fev.get('macro_f1'))} (accuracy {_f(fev.get('accuracy'))}) on the "
        f"held-out test split ({fev.get('n', 'n/a')} queries).",
    ]
    if conclusion.get("max_rps") is not None:
        md += [
            f"The highest rate that still held p99 < {cfg.get('slo_ms', 50):g} ms: **{conclusion['max_rps']:g} "
            "requests/s** (`bench/find_max.json`)."
        ]
    md += [
        "",
        f"Decisions of `{final['artefact']}`: {decision_setup(run.path / final['artefact'])}.",
        "",
        f"Client (open-loop load generator) and server share the same {run.env.get('cores', '?')}-core "
        "machine; latency is measured from each request's scheduled send time (no coordinated omission).",
        "",
    ]
    return conclusion, md


def _environment(run: _Run) -> list[str]:
    env, cfg, analysis, split = run.env, run.cfg, run.analysis, run.split
    md = ["## Environment", ""]
    if env:
        md += [f"- Machine: {describe_machine(env)}; OS {env.get('os')}; Python {env.get('python')}"]
        vers = ", ".join(f"{k} {v}" for k, v in (env.get("versions") or {}).items() if v)
        md += [f"- Versions: {vers}"]
        md += [f"- ONNX Runtime providers: {', '.join(env.get('onnxruntime_providers') or [])}"]
    md += [
        f"- Inference threads (compare, serve): {cfg.get('threads')}; HTTP server: micro-batching max batch 32, "
        "max wait 2 ms (defaults of `router serve`), one model thread; load generator in its own process",
        f"- Data: `{analysis.get('source') or cfg.get('data') or 'bundled demo set'}` - {analysis.get('rows', '?')} "
        f"rows, {analysis.get('distinct_texts', '?')} distinct; split after dedup: train {len(split.get('train', []))}, "
        f"validation {len(split.get('val', []))}, test {len(split.get('test', []))} (seed {split.get('seed', cfg.get('seed'))})",
        f"- Label counts: {analysis.get('label_counts')}; imbalance {analysis.get('imbalance_ratio')} "
        f"({analysis.get('imbalance_ratio_dedup')} after dedup)",
        "",
    ]
    return md


def _before_after(run: _Run) -> list[str]:
    """Every HTTP run: quality, latency, errors, size, in-process speed-up; and the latency CDF."""
    if not run.bench_summary:
        return []
    cfg = run.cfg
    by_model = {row["model"]: row for row in run.compare}
    md = [
        "## Before and after",
        "",
        f"HTTP rows: {_f(cfg.get('bench_rps'), 0)} requests/s for {_f(cfg.get('bench_duration'), 0)} s, open loop, "
        f"the requests drawn from {run.load_texts_source()}. Quality: the same held-out test split for every row.",
        "",
    ]
    rows = []
    base_p50 = None
    for b in run.bench_summary:
        res = run.bench_result(b)
        ev = run.evals.get(b["artefact"], {})
        cmp_row = by_model.get(b["artefact"], {})
        if b.get("role") == "before":
            base_p50 = cmp_row.get("p50_ms")
        speed = f"{base_p50 / cmp_row['p50_ms']:.1f}x" if base_p50 and cmp_row.get("p50_ms") else "n/a"
        errors = res.get("errors", "n/a")
        if res.get("errors_by_type"):
            kinds = ", ".join(f"{k}: {v}" for k, v in res["errors_by_type"].items())
            errors = f"{errors} of {res.get('sent')} ({kinds})"
        rows.append(
            [
                b["system"],
                b["serving"],
                _f(ev.get("accuracy")),
                _f(ev.get("macro_f1")),
                _f(ev.get("weighted_f1")),
                _ms(res.get("p50_ms")),
                _ms(res.get("p95_ms")),
                _ms(res.get("p99_ms")),
                errors,
                _f(cmp_row.get("size_mb"), 1),
                speed,
            ]
        )
    md += [
        _table(
            [
                "system",
                "serving",
                "accuracy",
                "macro F1",
                "weighted F1",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "errors",
                "size MB",
                "in-process speed-up",
            ],
            rows,
        ),
        "",
        "Errors: 503 = the request waited past the server's 1 s deadline (the server could not keep up); "
        "429 = refused at arrival because its predicted wait exceeded half the deadline (admission control); "
        "p50-p99 are over successful requests only, so a row with errors fails the requirement whatever "
        "its percentiles.",
        "",
    ]
    cdf = latency_cdf_png(
        {b["system"]: run.bench_result(b) for b in run.bench_summary},
        run.path / "latency_cdf.png",
        title=f"latency at {_f(cfg.get('bench_rps'), 0)} requests/s (client+server on one box)",
    )
    if cdf:
        md += ["![latency CDF](latency_cdf.png)", ""]
    return md


def _steps(run: _Run) -> list[str]:
    """Each pipeline stage: status, one-line result, seconds."""
    rows = [
        [name, st.get("status"), st.get("summary", st.get("error", "")), _f(st.get("seconds"), 0)]
        for name, st in (run.state.get("stages") or {}).items()
        if name != "report"  # this report: its row would be the summary of the previous one
    ]
    md = ["## What each step did", "", _table(["stage", "status", "result", "seconds"], rows), ""]
    choice = _load(
        run.path / "final.json"
    )  # the compare stage's choice of the served artefact (eval/select.py)
    if choice:
        md += [f"**Served artefact: `{choice['artefact']}`** - {choice['reason']}.", ""]
    return md


def decision_setup(folder: Path) -> str:
    """The calibration and routing policy a model folder decides with (``calibration.json``, ``policy.json``):
    what every number measured on it assumes."""
    from llm_router.errors import RouterError
    from llm_router.runtime.calibration import read_calibration
    from llm_router.runtime.policy import read_policy

    try:
        calibration, policy = read_calibration(folder), read_policy(folder)
    except RouterError as exc:  # a folder whose sidecar is broken: say so rather than fail the report
        return f"unreadable ({exc})"
    cal = (
        "uncalibrated (temperature 1)"
        if calibration is None
        else f"{calibration.method} {calibration.temperature:.3g} fitted on {calibration.fitted_on or 'validation'}"
    )
    return f"{cal}; policy {policy.rule if policy else 'argmax'}"


def _compare_table(run: _Run) -> list[str]:
    """`compare.json`: every artefact on the same test split."""
    if not run.compare:
        return []
    md = [
        "### Every artefact on the same test split (`compare.json`)",
        "",
        f"Batch-1 latency in process, {run.cfg.get('threads')} thread(s); throughput at batch 32.",
        "",
    ]
    crow = [
        [
            r["model"],
            f"{r['params']:,}",
            _f(r.get("size_mb"), 1),
            _ms(r.get("p50_ms")),
            _ms(r.get("p99_ms")),
            _f(r.get("throughput_b32"), 0),
            _f(r.get("accuracy")),
            _f(r.get("macro_f1")),
            _f(r.get("agreement")),
            f"{r['speedup']:.1f}x" if r.get("speedup") else "n/a",
        ]
        for r in run.compare
    ]
    md += [
        _table(
            [
                "model",
                "params",
                "size MB",
                "p50 ms",
                "p99 ms",
                "texts/s @32",
                "accuracy",
                "macro F1",
                f"agrees with {run.compare[0]['model']}",
                "speed-up",
            ],
            crow,
        ),
        "",
    ]
    for r in run.compare:  # a cascade: which level answered how much of the test split (runtime/cascade.py)
        if r.get("level_shares"):
            shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in r["level_shares"].items())
            md += [
                f"Cascade `{r['model']}` answered the test texts at: {shares}; batch-1 mean "
                f"{_ms(r.get('mean_ms'))} ms, p99 {_ms(r.get('p99_ms'))} ms.",
                "",
            ]
    setups = {
        r["model"]: decision_setup(run.path / r["model"])
        for r in run.compare
        if (run.path / r["model"]).is_dir()
    }
    md += [
        "Calibration and policy behind each row: " + "; ".join(f"`{k}` {v}" for k, v in setups.items()) + ".",
        "",
    ]
    if (run.path / "compare.png").exists():
        md += ["![F1 vs latency](compare.png)", ""]
    return md + _baselines_section(_load(run.path / "baselines.json"))


def _inprocess_tables(run: _Run) -> list[str]:
    """`bench/inprocess.json`: batch-1 latency per thread count, throughput per batch size."""
    inproc = run.inproc
    if not inproc:
        return []
    md = [
        "### Real-time vs batch (in process, the served artefact)",
        "",
        "Batch-1 latency per thread count, then throughput per batch size (texts drawn from "
        f"{'the ' + inproc['split'] + ' split' if inproc.get('split') else 'the data set'}, "
        "so a batch is padded to its longest text).",
        "",
    ]
    lat = [
        [
            r.get("device"),
            r.get("threads"),
            _ms(r.get("p50_ms")),
            _ms(r.get("p95_ms")),
            _ms(r.get("p99_ms")),
            _f(r.get("max_rps_batch1"), 0),
        ]
        for r in inproc.get("latency", [])
    ]
    if lat:
        md += [
            _table(["device", "threads", "p50 ms", "p95 ms", "p99 ms", "max req/s at batch 1"], lat),
            "",
        ]
    thr = [
        [
            r.get("device"),
            r.get("threads"),
            r.get("batch_size"),
            _ms(r.get("ms_per_batch")),
            _f(r.get("texts_per_s"), 0),
        ]
        for r in inproc.get("throughput", [])
    ]
    if thr:
        md += [_table(["device", "threads", "batch size", "ms per batch", "texts/s"], thr), ""]
    return md


def _limits(run: _Run) -> list[str]:
    """Per-model F1 interval and confusions (+ confusion PNGs), the served model's worst misroutes, caveats."""
    from llm_router.eval.plots import confusion_matrix_png

    md = ["## Limits", ""]
    for name, ev in run.evals.items():
        png = run.path / f"confusion_{name}.png"
        confusion_matrix_png(ev["confusion_matrix"], ev["labels"], png, title=f"{name} (test split)")
        pairs = _confused_pairs(ev)
        worst = ", ".join(f"{a} -> {b} ({n})" for a, b, n in pairs[:3]) or "none"
        ci = ev.get("macro_f1_ci95") or [None, None]
        md += [
            f"- **{name}**: macro F1 {_f(ev.get('macro_f1'))} (95% bootstrap interval {_f(ci[0])}-{_f(ci[1])} on "
            f"{ev.get('n')} test queries); most confused (true -> predicted): {worst}. ![{name}]({png.name})"
        ]
    final = run.bench_row("after")
    final_ev = run.evals.get(final["artefact"]) if final else None
    if final_ev and final_ev.get("misroutes"):
        md += ["", "Most confident misroutes of the served model:", ""]
        md += [
            _table(
                ["text", "true", "predicted", "confidence"],
                [
                    [m["text"].replace("|", "\\|"), m["true"], m["pred"], _f(m.get("confidence"), 2)]
                    for m in final_ev["misroutes"][:8]
                ],
            ),
            "",
        ]
    env = run.env
    md += [
        "",
        "- The test split is small: the bootstrap interval above is the honest error bar of every F1 here.",
        f"- Long inputs are truncated to the teacher's max length ({_teacher_max_length(run.path)} tokens, chosen from the "
        "training texts' token lengths); latency grows with length, and the load test draws from "
        f"{run.load_texts_source()}.",
        "- Cold start: the server answers `/ready` 503 until the model is loaded and warmed up; the first requests "
        "after a restart are not part of these numbers.",
        f"- GPU: {'measured on ' + env['gpu'] if env.get('gpu') else 'not measured in this run (no GPU on this machine)'}.",
        "- The data cannot tell how the router behaves on traffic unlike it (other languages, other tasks), "
        "nor whether a route label is the *best* LLM for a query - only that the labeller chose it.",
        "",
    ]
    return md


def _before_vs_after_line(run: _Run) -> list[str]:
    before, final = run.bench_row("before"), run.bench_row("after")
    if not (before and final):
        return []
    bres, fres = run.bench_result(before), run.bench_result(final)

    def _p99(res: dict) -> str:
        if res.get("errors"):
            return (
                f"p99 {_ms(res.get('p99_ms'))} ms with {res['errors']} of {res.get('sent')} requests failed"
            )
        return f"p99 {_ms(res.get('p99_ms'))} ms, no errors"

    return [
        "## Before vs after, in one line",
        "",
        f"Before: {before['system']} ({before['serving']}) at {_f(bres.get('target_rps'), 0)} requests/s: "
        f"{_p99(bres)}. After: {final['system']} ({final['serving']}): {_p99(fres)}.",
        "",
    ]
