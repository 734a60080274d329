"""`router pipeline`: the main job, end to end, with resumable stages.

analyse -> leak-free split + teacher training -> distillation -> quantisation (behind the accuracy gate) ->
early-exit model (exit heads on the INT8 teacher's own layers) -> confidence cascade -> evaluation of every artefact
on the same test split (and the choice of the served artefact: best on validation under the latency SLO) ->
benchmarks (in-process and HTTP at a fixed rate) -> report.

Each stage writes its artefacts atomically into the run folder and records what it did in ``pipeline.json``
(config hash, seconds, one-line result). Re-running skips a stage whose artefacts exist with the same config;
``force`` redoes the named stages (and, since later stages read their artefacts, everything after them).
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console

from llm_router.errors import RouterError
from llm_router.quantize.config import INT8_SCHEMES, float_ffn_problem
from llm_router.utils import atomic_write_json, read_json


@dataclass
class PipelineConfig:
    """Everything `router pipeline` does is decided here; the defaults run on the bundled demo set on 2 cores."""

    data: str | None = None
    text_col: str = "text"
    label_col: str = "label"
    train_label_col: str | None = None  # e.g. "intent": train on the finer label, decide on routes
    route_map: str | None = None  # JSON file or "auto" (with train_label_col)
    group_col: str | None = None  # rows of one group (conversation, user) never span two splits
    out: str = "runs/demo"
    seed: int = 42
    teacher_model: str = "auto"  # "auto": all-MiniLM-L6-v2 for English-only data, else multilingual-e5-small
    teacher_epochs: int | None = None  # None: the tuned default of `router train`
    # seconds the teacher's training may take: fewer epochs when the measured cost of all of them is more
    # (None: `router train`'s default, 900; 0: no budget, reproducible epochs)
    teacher_time_budget_s: float | None = None
    student: str = "layers:4"
    # the same default as `router pipeline --student-epochs`; None: `router distill`'s (10, early stopping on
    # validation agreement). 4 keeps the default run shorter: on the demo set the 4-epoch student agreed with its
    # teacher on 91.0% of the test texts, the 10-epoch ablation rows on 91.5% (3 seeds; docs/DISTILLATION.md)
    student_epochs: int | None = 4
    static_student: bool = True
    baselines: bool = True  # TF-IDF + LR (servable, compared) and frozen-encoder + LR on the teacher's split
    int8_static: bool = True
    # the student's first N encoder layers stay float in its dynamic INT8 file (`router quantize --float-layers`):
    # a student started from the teacher's first layers reads the embeddings in its first layer, and INT8 there
    # flipped 4.9% of the demo test texts against the float student (0.8% with it float, for 25% more time)
    student_float_layers: int = 1
    # the same for the teacher's INT8 file, the cascade's last level: its disagreements with the float teacher (the
    # cascade's reference) are lost agreement; the first layer float took them from 2.8% to 1.9% of the demo
    # validation texts and copies (8.7% to 8.1% on seed) for 7-12% more time
    teacher_float_layers: int = 1
    # every encoder layer's feed-forward projections kept float in the INT8 files (`router quantize --float-ffn`:
    # none, out or all), the student's and the teacher's
    student_float_ffn: str = "none"
    teacher_float_ffn: str = "none"
    # the teacher's INT8 scheme (`router quantize --scheme`): auto keeps dynamic INT8 unless blockwise INT8 flips
    # significantly fewer validation routes against the float teacher. The cascade's last level answers the texts
    # the cheap levels are unsure of, where dynamic INT8 flips most: seed teacher 6 of 39 validation texts (0 of
    # 267 training texts), blockwise 0 (docs/DISTILLATION.md, "Blockwise INT8 for the teacher")
    teacher_int8_scheme: str = "auto"
    threads: int = 1  # inference threads for compare/bench (the HTTP client needs the other core)
    bench_rps: float = 100.0
    bench_duration: float = 30.0
    find_max: bool = False  # --find-max: also search the highest rate under the SLO (about 2 more minutes)
    slo_ms: float = 50.0
    cascade: bool = (
        True  # a confidence cascade static -> tfidf -> student-int8 -> teacher-int8 (those that exist; levels
        # that do not pay are skipped), its expected cost within what bench_rps allows on the server's inference
        # threads (1000 x parallelism / (2 x rps) ms: 7.5 ms at 100 requests/s on 2 cores);
        # agreement is measured against the teacher's float ONNX export, not its INT8 copy
    )
    # its target agreement with the float teacher on the validation texts + copies (optimistic: 99% there was
    # 96.7% on the demo test split, 97% was 94-95%); the early-exit model's too
    cascade_target: float = 0.99
    # an early-exit model (`router exits`): the INT8 teacher's file cut after a few layers, an exit head after each
    # cut, thresholds for cascade_target within the cascade's cost bound; compared and a candidate to serve
    early_exit: bool = True
    # serve the best-on-validation artefact whose batch-1 p99 (compare) is within this; None: `slo_ms`, the
    # requirement the HTTP benchmark checks (the aim of 5 ms is reported beside it, not used to pick)
    serve_p99_ms: float | None = None
    sample: int | None = None  # use only this many rows (stratified): for smoke tests
    fast: bool = False  # tiny settings for CI: few epochs, short benchmarks

    def resolved(self) -> PipelineConfig:
        """Apply ``fast``: the same stages with tiny settings."""
        if not self.fast:
            return self
        cfg = PipelineConfig(**asdict(self))
        cfg.teacher_epochs = cfg.teacher_epochs or 1
        cfg.student_epochs = 1
        cfg.bench_duration = min(cfg.bench_duration, 3.0)
        cfg.find_max = False
        cfg.int8_static = False
        return cfg


STAGES = (
    "analyze",
    "teacher",
    "baselines",
    "student",
    "static",
    "quantize",
    "exits",
    "cascade",
    "compare",
    "bench",
    "report",
)


@dataclass
class Stage:
    name: str
    run: Callable[[PipelineConfig, Path], str]  # returns the one-line result
    outputs: tuple[str, ...]
    config_keys: tuple[str, ...]
    enabled: Callable[[PipelineConfig], bool] = field(default=lambda cfg: True)


def _config_hash(cfg: PipelineConfig, keys: tuple[str, ...], upstream: list[str]) -> str:
    values = {k: getattr(cfg, k) for k in keys}
    if values.get("data"):
        values["data"] = data_identity(values["data"])
    payload = json.dumps({"cfg": values, "upstream": upstream}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def data_identity(path: str) -> str:
    """The data file as a stage's hash sees it: its absolute path and a digest of its bytes, so that
    ``--data x.csv`` and ``--data /abs/x.csv`` are one run, and an edited file redoes the stages that read it
    (the path alone, as before 2026-12-07, missed both)."""
    file = Path(path).expanduser()
    if not file.is_file():
        return str(path)  # the analyze stage reports it
    where, stat = str(file.resolve()), file.stat()
    return f"{where}#{_file_digest(where, stat.st_size, stat.st_mtime_ns)}"


@functools.lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:  # (size, mtime: a changed file is read again)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def config_problem(cfg: PipelineConfig) -> str | None:
    """What is wrong with the run's numbers and the student's spec (None: nothing), found before hours of training
    rather than at the stage that reads them."""
    import math

    from llm_router.distill.student import parse_student_spec

    def number(value) -> bool:
        return isinstance(value, int | float) and math.isfinite(value)

    checks = [
        (
            "--rps",
            cfg.bench_rps,
            number(cfg.bench_rps) and cfg.bench_rps > 0,
            "a number > 0",
        ),
        (
            "--duration",
            cfg.bench_duration,
            number(cfg.bench_duration) and cfg.bench_duration > 0,
            "a number > 0",
        ),
        ("--slo-ms", cfg.slo_ms, number(cfg.slo_ms) and cfg.slo_ms > 0, "a number > 0"),
        (
            "--cascade-target",
            cfg.cascade_target,
            number(cfg.cascade_target) and 0 < cfg.cascade_target <= 1,
            "in (0, 1]",
        ),
        ("--threads", cfg.threads, cfg.threads >= 1, ">= 1"),
        ("--sample", cfg.sample, cfg.sample is None or cfg.sample >= 1, ">= 1"),
        (
            "--student-epochs",
            cfg.student_epochs,
            cfg.student_epochs is None or cfg.student_epochs >= 1,
            ">= 1",
        ),
        (
            "--teacher-epochs",
            cfg.teacher_epochs,
            cfg.teacher_epochs is None or cfg.teacher_epochs >= 1,
            ">= 1",
        ),
        (
            "--time-budget",
            cfg.teacher_time_budget_s,
            cfg.teacher_time_budget_s is None
            or (number(cfg.teacher_time_budget_s) and cfg.teacher_time_budget_s >= 0),
            ">= 0 s (0: no budget)",
        ),
        (
            "--serve-p99-ms",
            cfg.serve_p99_ms,
            cfg.serve_p99_ms is None or (number(cfg.serve_p99_ms) and cfg.serve_p99_ms > 0),
            "a number > 0",
        ),
        ("--student-float-layers", cfg.student_float_layers, cfg.student_float_layers >= 0, ">= 0"),
        ("--teacher-float-layers", cfg.teacher_float_layers, cfg.teacher_float_layers >= 0, ">= 0"),
    ]
    for flag, value, ok, expected in checks:
        if not ok:
            return f"{flag} {value!r}: must be {expected}"
    if cfg.route_map == "auto" and not cfg.train_label_col:
        return "--route-map auto needs --train-label-col (the finer label it maps to routes)"
    try:
        parse_student_spec(cfg.student)
    except RouterError as exc:
        return str(exc)
    return None


class PipelineRunner:
    """Runs stages in order, skipping those already done with the same config."""

    def __init__(self, cfg: PipelineConfig, stages: list[Stage], console: Console | None = None):
        self.cfg = cfg.resolved()
        self.stages = stages
        self.console = console or Console()
        self.out = Path(self.cfg.out)
        self.state_path = self.out / "pipeline.json"

    def _load_state(self) -> dict:
        if self.state_path.exists():
            try:
                return read_json(self.state_path)
            except (OSError, ValueError):
                return {}
        return {}

    def run(self, force: tuple[str, ...] = (), until: str | None = None) -> dict:
        """Run (or skip) every stage in order; ``until`` stops after that stage (e.g. train on a busy machine,
        benchmark later on a quiet one)."""
        unknown = sorted(set(force) - set(STAGES) - {"all"})
        if unknown:
            raise RouterError(f"--force: unknown stage(s) {', '.join(unknown)} (stages: {', '.join(STAGES)})")
        if until is not None and until not in STAGES:
            raise RouterError(f"--until: unknown stage {until!r} (stages: {', '.join(STAGES)})")
        for flag, value in (
            ("--student-float-ffn", self.cfg.student_float_ffn),
            ("--teacher-float-ffn", self.cfg.teacher_float_ffn),
        ):
            if problem := float_ffn_problem(value, flag):  # checked before hours of training, not at quantize
                raise RouterError(problem)
        if self.cfg.teacher_int8_scheme not in INT8_SCHEMES:
            raise RouterError(
                f"--teacher-int8-scheme {self.cfg.teacher_int8_scheme!r} (choose from {', '.join(INT8_SCHEMES)})"
            )
        if problem := config_problem(self.cfg):
            raise RouterError(problem)
        self.out.mkdir(parents=True, exist_ok=True)
        state = self._load_state()
        state["config"] = asdict(self.cfg)
        stages_state = state.setdefault("stages", {})
        upstream: list[str] = []
        redo_rest = "all" in force
        for stage in self.stages:
            if not stage.enabled(self.cfg):
                stages_state[stage.name] = {"status": "disabled"}
                continue
            h = _config_hash(self.cfg, stage.config_keys, upstream)
            prev = stages_state.get(stage.name, {})
            have = all((self.out / o).exists() for o in stage.outputs)
            redo = (
                redo_rest
                or stage.name in force
                or prev.get("hash") != h
                or prev.get("status") != "done"
                or not have
            )
            if not redo:
                self.console.print(
                    f"[dim]{stage.name:>9}[/] skipped (done, same config): {prev.get('summary', '')}",
                    highlight=False,
                )
                upstream.append(h)
                if stage.name == until:
                    break
                continue
            redo_rest = True  # later stages read this stage's artefacts
            self.console.rule(f"[bold]{stage.name}")
            t0 = time.perf_counter()
            try:
                summary = stage.run(self.cfg, self.out)
            except RouterError as exc:
                stages_state[stage.name] = {"status": "failed", "error": str(exc)}
                atomic_write_json(self.state_path, state)
                raise RouterError(
                    f"stage '{stage.name}' failed: {exc} (earlier artefacts in {self.out} are intact)",
                    exit_code=exc.exit_code,
                ) from None
            except Exception as exc:
                stages_state[stage.name] = {
                    "status": "failed",
                    "error": repr(exc),
                    "traceback": traceback.format_exc(limit=8),
                }
                atomic_write_json(self.state_path, state)
                raise RouterError(
                    f"stage '{stage.name}' failed: {type(exc).__name__}: {exc} "
                    f"(details in {self.state_path}; earlier artefacts are intact)"
                ) from None
            secs = time.perf_counter() - t0
            stages_state[stage.name] = {
                "status": "done",
                "hash": h,
                "seconds": round(secs, 1),
                "summary": summary,
            }
            atomic_write_json(self.state_path, state)
            self.console.print(f"[green]{stage.name:>9}[/] {summary} [dim]({secs:.0f} s)[/]", highlight=False)
            upstream.append(h)
            if stage.name == until:
                later = self.stages[self.stages.index(stage) + 1 :]
                for rest in later:  # they read what was just redone: the next run must redo them too
                    if stages_state.get(rest.name, {}).get("status") == "done":
                        stages_state[rest.name]["status"] = "stale"
                atomic_write_json(self.state_path, state)
                break
        return state


# ------------------------------------------------------------------------------------------------- stages
# Artefact folders inside the run folder; the names are what the report and `router compare` call them.
TEACHER, STUDENT, STATIC, TFIDF = "teacher", "student", "static", "tfidf"
TEACHER_INT8, STUDENT_INT8, STUDENT_INT8_STATIC = "teacher-int8", "student-int8", "student-int8-static"
CASCADE, EARLY_EXIT = "cascade", "early-exit"
#: the served artefact must reach this many times the benchmark rate in texts/s (compare's throughput on one thread,
#: times the server's parallelism): below its traffic a model queues without bound whatever its batch-1 latency.
#: The cascade's cost bound is the same rule per text: 1000 x parallelism / (SERVE_HEADROOM x rate) ms
SERVE_HEADROOM = 2.0
#: what each inference thread beyond the first adds, in one thread's rate: two threads held 1.22, 1.54, 1.50, 2.00
#: and 1.50x one thread's find-max (median 1.5) in five pairs on 2 cores, client on the same box (docs/SERVING.md)
EXTRA_THREAD_SHARE = 0.5


def serve_threads() -> int:
    """Inference threads the benchmarked server runs in parallel: `router serve`'s default, at most the CPU count."""
    import os

    from llm_router.serve.config import ServeConfig

    return max(1, min(ServeConfig.inference_workers, os.cpu_count() or 1))


def serve_parallelism() -> float:
    """How many one-thread rates the benchmarked server's inference threads are worth (1.5 for two)."""
    return 1.0 + EXTRA_THREAD_SHARE * (serve_threads() - 1)


def _load_data(cfg: PipelineConfig):
    import pandas as pd

    from llm_router.data import load_dataset

    extra = [cfg.train_label_col] if cfg.train_label_col and cfg.train_label_col != cfg.label_col else []
    if cfg.group_col and cfg.group_col not in extra:
        extra.append(cfg.group_col)
    df = load_dataset(cfg.data, cfg.text_col, cfg.label_col, extra_cols=extra)
    if cfg.sample and cfg.sample < len(df):
        from sklearn.model_selection import train_test_split

        attrs = dict(df.attrs)
        df, _ = train_test_split(df, train_size=cfg.sample, random_state=cfg.seed, stratify=df["label"])
        df = pd.DataFrame(df).reset_index(drop=True)
        df.attrs.update(attrs)
    return df


def stage_analyze(cfg: PipelineConfig, out: Path) -> str:
    from llm_router.data import analyze_dataset
    from llm_router.eval.environment import collect_environment

    df = _load_data(cfg)
    tokenizer = cfg.teacher_model
    if tokenizer == "auto":
        from llm_router.train.recipe import choose_encoder

        tokenizer = choose_encoder(df["text"].tolist()).value
    res = analyze_dataset(df, tokenizer_name=tokenizer)
    atomic_write_json(out / "analysis.json", res)
    atomic_write_json(out / "environment.json", collect_environment())
    counts = ", ".join(f"{k} {v}" for k, v in res["label_counts"].items())
    return (
        f"{res['rows']} rows, {res['distinct_texts']} distinct ({res['duplicate_rows']} duplicates), {counts}; "
        f"imbalance {res['imbalance_ratio_dedup']:.1f}x after dedup"
    )


def stage_teacher(cfg: PipelineConfig, out: Path) -> str:
    from llm_router.train.config import TrainConfig
    from llm_router.train.fit import train

    df = _load_data(cfg)
    opts = {"model": cfg.teacher_model, "seed": cfg.seed, "group_col": cfg.group_col}
    if cfg.teacher_epochs:
        opts["epochs"] = cfg.teacher_epochs
    if cfg.teacher_time_budget_s is not None:
        opts["time_budget_s"] = cfg.teacher_time_budget_s
    if cfg.train_label_col:
        opts["train_label_col"] = cfg.train_label_col
        opts["route_map"] = cfg.route_map or "auto"
    result = train(df, TrainConfig(**opts), out / TEACHER, created_by="router pipeline")
    m = result.metrics or {}
    return (
        f"teacher {cfg.teacher_model}: test macro F1 {m.get('macro_f1', float('nan')):.3f}, "
        f"accuracy {m.get('accuracy', float('nan')):.3f}"
    )


def stage_baselines(cfg: PipelineConfig, out: Path) -> str:
    from llm_router.train.baselines import BaselineConfig, run_baselines

    result = run_baselines(out / TEACHER, out / TFIDF, BaselineConfig(seed=cfg.seed))
    atomic_write_json(out / "baselines.json", result)
    return result["verdict"]


def _distill(cfg: PipelineConfig, out: Path, student: str, name: str) -> str:
    from llm_router.distill.config import DistillConfig
    from llm_router.distill.distill import distill

    opts: dict = {"student": student, "seed": cfg.seed}
    if cfg.student_epochs:
        opts["epochs"] = cfg.student_epochs
    result = distill(out / TEACHER, out / name, DistillConfig(**opts))
    m = result.metrics or {}
    return f"{name} ({student}): test macro F1 {m.get('macro_f1', float('nan')):.3f}"


def stage_student(cfg: PipelineConfig, out: Path) -> str:
    return _distill(cfg, out, cfg.student, STUDENT)


def stage_static(cfg: PipelineConfig, out: Path) -> str:
    return _distill(cfg, out, "static", STATIC)


def _quantized_folders(cfg: PipelineConfig) -> list[tuple[str, str, bool, int, str, str]]:
    """(output folder, source folder, static?, float layers, float FFN, INT8 scheme) for every quantisation the
    pipeline runs."""
    jobs = [
        (STUDENT_INT8, STUDENT, False, cfg.student_float_layers, cfg.student_float_ffn, "dynamic"),
        (
            TEACHER_INT8,
            TEACHER,
            False,
            cfg.teacher_float_layers,
            cfg.teacher_float_ffn,
            cfg.teacher_int8_scheme,
        ),
    ]
    if cfg.int8_static:
        jobs.append((STUDENT_INT8_STATIC, STUDENT, True, 0, "none", "dynamic"))
    return jobs


def stage_quantize(cfg: PipelineConfig, out: Path) -> str:
    from llm_router.quantize.core import GateRejected, QuantizeConfig, quantize_model

    parts = []
    for name, src, static, float_layers, float_ffn, scheme in _quantized_folders(cfg):
        qcfg = QuantizeConfig(
            model=str(out / src),
            out=str(out / name),
            int8=True,
            static=static,
            float_layers=float_layers,
            float_ffn=float_ffn,
            scheme=scheme,
        )
        try:
            res = quantize_model(qcfg)
            gate = (
                f", agreement {100 * res.gate['agreement']:.1f}% on {res.gate['n_agreement_texts']} texts"
                if res.gate
                else ""
            )
            chose = f", {res.scheme_choice['reason']}" if res.scheme_choice else ""
            parts.append(
                f"{name}: F1 {res.f1_float:.1f} -> {res.f1_quantized:.1f}{gate} ({res.decision}){chose}"
                if res.f1_float is not None
                else f"{name}: {res.decision}"
            )
        except GateRejected as exc:  # the float ONNX model is kept and served instead
            parts.append(f"{name}: INT8 refused by the accuracy gate, float ONNX kept ({exc})")
    return "; ".join(parts)


def _artefacts(cfg: PipelineConfig, out: Path) -> list[str]:
    names = [TEACHER, TEACHER_INT8, STUDENT, STUDENT_INT8]
    if cfg.int8_static:
        names.append(STUDENT_INT8_STATIC)
    if cfg.static_student:
        names.append(STATIC)
    if cfg.baselines:
        names.append(TFIDF)
    if cfg.early_exit and _early_exit_keeps_an_exit(out):
        names.append(EARLY_EXIT)
    if cfg.cascade and not _cascade_is_its_last_level(out):
        names.append(CASCADE)
    return [n for n in names if (out / n).exists()]


def _cascade_is_its_last_level(out: Path) -> bool:
    """Whether the run's cascade (``cascade.json``) skips every cheap level; see :func:`_skips_every_cheap_level`."""
    report = out / CASCADE / "cascade.json"
    return report.exists() and _skips_every_cheap_level(read_json(report)["thresholds"])


def _skips_every_cheap_level(thresholds: list[float | None]) -> bool:
    """No thresholds: the cascade answers every text with its last level, so it is that artefact behind a wrapper,
    and not a candidate of its own (the seed run served such a cascade on 2026-12-07, tied with the INT8 teacher's
    own folder)."""
    return all(threshold is None for threshold in thresholds)


def _float_teacher_file(out: Path) -> Path | None:
    """The teacher's float ONNX export beside its INT8 file in ``teacher-int8`` (None when that folder serves it):
    the cascade's reference. Measured against its last level, the INT8 teacher, the thresholds chased agreement
    with a model that itself disagreed with the teacher on 1.6% (demo) to 15% (seed) of the validation texts."""
    from llm_router.persistence import read_router_info
    from llm_router.quantize.core import FLOAT_FILE

    folder = out / TEACHER_INT8
    if not (folder / FLOAT_FILE).exists():
        return None
    _, info = read_router_info(folder)
    return None if info.onnx_file == FLOAT_FILE else folder / FLOAT_FILE


def _cost_bound_ms(cfg: PipelineConfig) -> float | None:
    """The expected ms per text that the benchmark rate allows on the server's inference threads (the cascade's and
    the early-exit model's bound): 1000 x parallelism / (2 x rate)."""
    return 1000.0 * serve_parallelism() / (SERVE_HEADROOM * cfg.bench_rps) if cfg.bench_rps > 0 else None


def stage_exits(cfg: PipelineConfig, out: Path) -> str:
    from llm_router.distill.config import ExitsConfig
    from llm_router.distill.exits import NotCuttable, build_early_exit, exits_summary

    if not (out / TEACHER_INT8).exists():
        return f"skipped: no {TEACHER_INT8} folder to cut"
    try:
        report = build_early_exit(
            ExitsConfig(
                model=str(out / TEACHER_INT8),
                out=str(out / EARLY_EXIT),
                target_agreement=cfg.cascade_target,
                max_cost_ms=_cost_bound_ms(cfg),
                threads=cfg.threads,
            )
        )
    except NotCuttable as exc:  # e.g. the gate refused INT8 and the folder serves the fused float graph
        shutil.rmtree(out / EARLY_EXIT, ignore_errors=True)  # no stale model from an earlier run
        return f"skipped: {exc}"
    if not report["exits"]:
        return f"{exits_summary(report)}; no exit kept: it is {TEACHER_INT8} itself, not compared or served"
    return exits_summary(report)


def _early_exit_keeps_an_exit(out: Path) -> bool:
    report = out / EARLY_EXIT / "exits.json"
    return report.exists() and bool(read_json(report)["exits"])


def stage_cascade(cfg: PipelineConfig, out: Path) -> str:
    from llm_router.eval.cascade import CascadeConfig, build_cascade, cascade_summary

    last = TEACHER_INT8 if (out / TEACHER_INT8).exists() else TEACHER
    levels = [n for n in (STATIC, TFIDF, STUDENT_INT8, last) if (out / n).exists()]
    if len(levels) < 2:
        return f"skipped: only {', '.join(levels) or 'no'} level(s) exist"
    float_teacher = _float_teacher_file(out)
    report = build_cascade(
        CascadeConfig(
            levels=[str(out / n) for n in levels],
            reference=None if float_teacher is None else str(float_teacher),
            out=str(out / CASCADE),
            target_agreement=cfg.cascade_target,
            threads=cfg.threads,
            max_cost_ms=_cost_bound_ms(cfg),
            rate=cfg.bench_rps if cfg.bench_rps > 0 else None,
            max_p99_ms=cfg.slo_ms if cfg.bench_rps > 0 else None,
            inference_workers=serve_threads(),
        )
    )
    if _skips_every_cheap_level(report["thresholds"]):  # (the report in hand, not the file it was written to)
        return (
            f"{cascade_summary(report)}; every cheap level skipped: the cascade is {levels[-1]} itself, "
            "not compared or served as an artefact of its own"
        )
    return cascade_summary(report)


def stage_compare(cfg: PipelineConfig, out: Path) -> str:
    from llm_router.eval import evaluate
    from llm_router.eval.compare import CompareConfig, compare_models, pareto_png

    names = _artefacts(cfg, out)
    rows = compare_models([f"{n}={out / n}" for n in names], CompareConfig(threads=cfg.threads))
    atomic_write_json(out / "compare.json", rows)
    pareto_png(rows, out / "compare.png", title=f"macro F1 vs p99 latency, batch 1, {cfg.threads} thread(s)")
    for n in names:
        atomic_write_json(out / "eval" / f"{n}.json", evaluate(out / n, threads=cfg.threads))
    best = max(rows, key=lambda r: (r["macro_f1"], -r["p50_ms"]))
    fastest = min(rows, key=lambda r: r["p50_ms"])
    from llm_router.eval.select import choose_served

    choice = choose_served(
        out,
        rows,
        cfg.serve_p99_ms or cfg.slo_ms,
        threads=cfg.threads,
        min_throughput=SERVE_HEADROOM * cfg.bench_rps / serve_parallelism(),  # on one thread
    )
    atomic_write_json(out / "final.json", choice)
    return (
        f"{len(rows)} artefacts; best F1 {best['model']} {best['macro_f1']:.3f}; fastest {fastest['model']} "
        f"p50 {fastest['p50_ms']:.2f} ms; serving {choice['artefact']}: {choice['reason']}"
    ) + _costeval_summary(out)


def _costeval_summary(out: Path) -> str:
    """When the data has score_<route> / cost_<route> columns: the final artefact's cost-quality evaluation on its
    test split, in ``costeval/`` (see `router costeval`)."""
    from llm_router.eval.costeval import costeval_if_outcomes

    res = costeval_if_outcomes(out / _final_artefact(out), out / "costeval", n_boot=200)
    if res is None:
        return ""
    return f"; cost-quality AIQ {res['aiq']:.3f} vs zero router {res['aiq_zero_router']:.3f}"


def _final_artefact(out: Path) -> str:
    """The artefact served in the 'after' row: the compare stage's choice (``final.json``), else the INT8 student
    (float ONNX when the gate refused INT8)."""
    if (out / "final.json").exists():
        chosen = read_json(out / "final.json").get("artefact")
        if chosen and (out / chosen).exists():
            return chosen
    return STUDENT_INT8 if (out / STUDENT_INT8).exists() else STUDENT


def stage_bench(cfg: PipelineConfig, out: Path) -> str:
    from llm_router.bench.http import HttpBenchConfig, run_http_bench
    from llm_router.bench.inprocess import InprocessBenchConfig, run_inprocess_bench
    from llm_router.serve.config import ServeConfig

    final = _final_artefact(out)
    bench_dir = out / "bench"
    bench_dir.mkdir(parents=True, exist_ok=True)
    inproc = run_inprocess_bench(
        InprocessBenchConfig(
            model=str(out / final),
            thread_counts=sorted({1, cfg.threads, 2}),
            data=cfg.data,
            text_col=cfg.text_col,
            split="test",
            seconds_per_batch_size=0.5 if cfg.fast else 2.0,
            latency_calls=50 if cfg.fast else 300,
        )
    )
    atomic_write_json(bench_dir / "inprocess.json", inproc)

    runs = [  # (file, system, artefact, serving, role, batching)
        (
            "before.json",
            "teacher, eager PyTorch",
            TEACHER,
            "FastAPI, one inference per request",
            "before",
            False,
        ),
        (
            "teacher_batching.json",
            "teacher, eager PyTorch",
            TEACHER,
            "FastAPI + micro-batching",
            "step",
            True,
        ),
        (
            "served_nobatching.json",
            f"{final} (served artefact)",
            final,
            "FastAPI, one inference per request",
            "step",
            False,
        ),
        ("after.json", f"{final} (served artefact)", final, "FastAPI + micro-batching", "after", True),
    ]
    if cfg.fast:
        runs = [r for r in runs if r[4] in ("before", "after")]
    summary = []
    for file, system, artefact, serving, role, batching in runs:
        hcfg = HttpBenchConfig(
            model=str(out / artefact),
            rps=cfg.bench_rps,
            duration_s=cfg.bench_duration,
            warmup_s=2.0 if cfg.fast else 5.0,
            data=cfg.data,
            text_col=cfg.text_col,
            split="test",  # held-out texts: a cascade's cheap levels answer more of their training texts
            # the rows without batching are the naive server: one inference at a time, one per request
            serve=ServeConfig(
                threads=cfg.threads,
                batching=batching,
                inference_workers=ServeConfig.inference_workers if batching else 1,
            ),
        )
        res = run_http_bench(hcfg)
        atomic_write_json(bench_dir / file, res)
        summary.append(
            {
                "file": file,
                "system": system,
                "artefact": artefact,
                "serving": serving,
                "role": role,
                "rps": cfg.bench_rps,
                "p95_ms": res.get("p95_ms"),
                "p99_ms": res.get("p99_ms"),
                "errors": res.get("errors"),
            }
        )
    if cfg.find_max:
        hcfg = HttpBenchConfig(
            model=str(out / final),
            find_max=True,
            slo_ms=cfg.slo_ms,
            data=cfg.data,
            text_col=cfg.text_col,
            split="test",
            serve=ServeConfig(threads=cfg.threads),
        )
        atomic_write_json(bench_dir / "find_max.json", run_http_bench(hcfg))
    atomic_write_json(bench_dir / "summary.json", summary)
    after = next(s for s in summary if s["role"] == "after")
    before = next(s for s in summary if s["role"] == "before")
    return (
        f"{cfg.bench_rps:g} req/s: before p99 {before['p99_ms']} ms ({before['errors']} errors), "
        f"after p99 {after['p99_ms']} ms ({after['errors']} errors)"
    )


def stage_report(cfg: PipelineConfig, out: Path) -> str:
    from llm_router.eval.report import build_report, conclusion_line

    res = build_report(out)
    c = res["conclusion"]
    return f"wrote {res['report']}: {conclusion_line(c)}" if c else f"wrote {res['report']}"


_DATA_KEYS = ("data", "text_col", "label_col", "train_label_col", "route_map", "group_col", "seed", "sample")


def build_stages() -> list[Stage]:
    return [
        Stage("analyze", stage_analyze, ("analysis.json",), _DATA_KEYS + ("teacher_model",)),
        Stage(
            "teacher",
            stage_teacher,
            (TEACHER,),
            _DATA_KEYS + ("teacher_model", "teacher_epochs", "teacher_time_budget_s"),
        ),
        Stage("baselines", stage_baselines, (TFIDF, "baselines.json"), (), enabled=lambda c: c.baselines),
        Stage("student", stage_student, (STUDENT,), ("student", "student_epochs")),
        Stage("static", stage_static, (STATIC,), ("student_epochs",), enabled=lambda c: c.static_student),
        Stage(
            "quantize",
            stage_quantize,
            (STUDENT_INT8, TEACHER_INT8),
            (
                "int8_static",
                "student_float_layers",
                "teacher_float_layers",
                "student_float_ffn",
                "teacher_float_ffn",
                "teacher_int8_scheme",
            ),
        ),
        Stage(
            "exits",
            stage_exits,
            (EARLY_EXIT,),
            ("early_exit", "cascade_target", "threads", "bench_rps"),
            enabled=lambda c: c.early_exit,
        ),
        Stage(
            "cascade",
            stage_cascade,
            (CASCADE,),
            ("cascade", "cascade_target", "threads", "bench_rps"),
            enabled=lambda c: c.cascade,
        ),
        Stage(
            "compare",
            stage_compare,
            ("compare.json", "final.json"),
            ("threads", "serve_p99_ms", "slo_ms", "bench_rps"),
        ),
        Stage(
            "bench",
            stage_bench,
            ("bench/summary.json",),
            ("threads", "bench_rps", "bench_duration", "find_max", "slo_ms"),
        ),
        Stage("report", stage_report, ("REPORT.md",), ()),
    ]


def run_pipeline(
    cfg: PipelineConfig, force: tuple[str, ...] = (), console: Console | None = None, until: str | None = None
) -> dict:
    """Run (or resume) the whole pipeline, or its stages up to ``until``; returns ``pipeline.json``'s content."""
    return PipelineRunner(cfg, build_stages(), console=console).run(force=force, until=until)
