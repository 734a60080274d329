"""The `router` command line: a thin layer over the stage functions, which tests call directly.

Every command turns a :class:`~llm_router.errors.RouterError` into one line on stderr and a non-zero exit
(2 by default); no traceback reaches the user for bad input.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape as rich_escape
from typer.core import TyperGroup

from llm_router.cli_options import dataclass_options, with_options
from llm_router.distill.config import DistillConfig, ExitsConfig
from llm_router.errors import RouterError
from llm_router.quantize.config import QuantizeConfig


def _make_console(stderr: bool = False) -> Console:
    """A rich console; when the output is a file or pipe (no terminal, no COLUMNS), 160 columns instead of rich's
    80, so that wide result tables stay readable in logs."""
    made = Console(stderr=stderr)
    if not made.is_terminal and "COLUMNS" not in os.environ:
        made.width = 160
    return made


console = _make_console()
err_console = _make_console(stderr=True)


def print_error(message: str) -> None:
    """One line on stderr, never wrapped, never a traceback."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)


class RouterGroup(TyperGroup):
    """Turns a RouterError raised anywhere under a command into one line on stderr and its exit code."""

    def invoke(self, ctx):  # noqa: D401 - click API
        try:
            return super().invoke(ctx)
        except RouterError as exc:
            print_error(rich_escape(str(exc)))
            raise typer.Exit(exc.exit_code) from None
        except (
            OSError
        ) as exc:  # a path that cannot be read or written (a folder, a file where a folder goes, ...)
            where = f": {exc.filename}" if exc.filename else ""
            print_error(rich_escape(f"{exc.strerror or exc}{where}"))
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=RouterGroup,
    name="router",
    help="Train, distil, quantise, evaluate, serve and benchmark an LLM query router.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Shared option types, so every command that takes data spells them the same way.
DataOpt = Annotated[
    Path | None, typer.Option("--data", help="CSV/TSV/JSONL/Parquet file (default: the bundled demo set).")
]
TextColOpt = Annotated[str, typer.Option("--text-col", help="Column holding the query text.")]
LabelColOpt = Annotated[str, typer.Option("--label-col", help="Column holding the route label.")]
LabelsOpt = Annotated[
    str | None, typer.Option("--labels", help="Comma-separated allowed labels; any other label is an error.")
]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Fail on empty texts instead of dropping them.")]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Also write the results to this JSON file.")]


def write_json(json_path: Path | None, payload) -> None:
    """``--json``: the command's result, written atomically, and a line saying where (nothing without a path)."""
    if json_path:
        from llm_router.utils import atomic_write_json

        atomic_write_json(json_path, payload)
        console.print(f"wrote {json_path}")


def check_png(path: Path | None, flag: str) -> None:
    """A PNG option names a .png file (checked before the work, not when the plot is saved)."""
    if path is not None and path.suffix.lower() != ".png":
        raise RouterError(f"{flag} {path}: the plot is a PNG, name it .png")


def parse_labels(labels: str | None) -> list[str] | None:
    return [x.strip() for x in labels.split(",") if x.strip()] if labels else None


def _version(value: bool) -> None:
    if value:
        from llm_router import __version__

        console.print(f"llm-router {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Train, distil, quantise, evaluate, serve and benchmark an LLM query router."""


def sub_app(name: str, help: str) -> typer.Typer:
    """A command group (e.g. `router models ...`) that shares the error handling of the top level."""
    group = typer.Typer(name=name, help=help, cls=RouterGroup, no_args_is_help=True, add_completion=False)
    app.add_typer(group, name=name)
    return group


# ----------------------------------------------------------------------------------------------- analyze
@app.command()
def analyze(
    data: DataOpt = None,
    text_col: TextColOpt = "text",
    label_col: LabelColOpt = "label",
    labels: LabelsOpt = None,
    strict: StrictOpt = False,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="Tokenizer for token lengths and truncation ('auto': the encoder `router train` would choose).",
        ),
    ] = "auto",
    json_path: JsonOpt = None,
) -> None:
    """Profile a labelled query set: duplicates, imbalance, lengths, scripts, warnings."""
    from llm_router.data import analyze_dataset, load_dataset
    from llm_router.data.analyze import print_analysis

    df = load_dataset(data, text_col, label_col, labels=parse_labels(labels), strict=strict)
    if model == "auto":
        from llm_router.train.recipe import choose_encoder

        model = choose_encoder(df["text"].tolist()).value
    result = analyze_dataset(df, tokenizer_name=model)
    print_analysis(result, console)
    write_json(json_path, result)


# ------------------------------------------------------------------------------------------------ models
models_app = sub_app("models", "Base models: where they come from offline, and preparing them.")


@models_app.command("list")
def models_list(
    no_hub: Annotated[
        bool, typer.Option("--no-hub", help="Do not check whether the hub is reachable.")
    ] = False,
) -> None:
    """Show every preset: where it resolves from, whether it is ready, its folder."""
    from rich.table import Table

    from llm_router.models import list_models

    table = Table(title="models")
    for column in ("name", "source", "ready", "path"):
        table.add_column(column, overflow="fold")
    for loc in list_models(check_hub=not no_hub):
        ready = "[green]yes[/]" if loc.ready else "[yellow]no[/]"
        where = str(loc.path) if loc.path else ""
        if loc.hint:
            where = f"{where} ({loc.hint})" if where else loc.hint
        table.add_row(loc.name, loc.source, ready, rich_escape(where))
    console.print(table)


@models_app.command("prepare")
def models_prepare(
    name: Annotated[
        str, typer.Argument(help="Hub id (e.g. intfloat/multilingual-e5-small) or local folder.")
    ],
    force: Annotated[bool, typer.Option("--force", help="Rebuild a cached conversion.")] = False,
) -> None:
    """Download or convert a model now; the last line of stdout is its folder."""
    from llm_router.models import prepare

    path = prepare(name, force=force)
    typer.echo(str(path))


# ---------------------------------------------------------------------------------------------- quantize
@app.command()
@with_options(dataclass_options(QuantizeConfig))
def quantize(
    model: Annotated[
        Path,
        typer.Option(
            "--model", help="HF model folder (router.json + split.json), or an ONNX folder to re-quantise."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output ONNX folder (written atomically).")],
    options: dict | None = None,
    json_path: JsonOpt = None,
) -> None:
    """Export to ONNX (checked against PyTorch), optimise, and quantise behind an accuracy gate.

    The gate compares the quantised with the float model: route agreement on many texts (train + validation +
    transfer) and the validation macro-F1 change with a bootstrap interval. A real loss (agreement below
    --min-agreement, or the interval entirely below -tolerance) exits with code 3 and keeps only the float model
    (unless --force).
    """
    from llm_router.quantize import GateRejected, quantize_model
    from llm_router.quantize.report import print_quantize_result

    given = {name: value for name, value in options.items() if value is not None}
    config = QuantizeConfig(model=str(model), out=str(out), **given)
    try:
        result = quantize_model(config, console=console)
    except GateRejected as rejected:
        print_quantize_result(rejected.result, console)
        write_json(json_path, rejected.result.to_dict())
        raise
    print_quantize_result(result, console)
    write_json(json_path, result.to_dict())


# ------------------------------------------------------------------------------------------------- serve
# Options that `router serve` and `router bench` (which starts a server) share, declared once.
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu or cuda.")]
ServeThreadsOpt = Annotated[
    int, typer.Option("--threads", help="Intra-op threads of the model (per server process).")
]
MaxBatchOpt = Annotated[int, typer.Option("--max-batch", help="Most texts per inference.")]
InferBatchOpt = Annotated[
    int | None,
    typer.Option("--infer-batch-size", help="Texts per model call within a batch, sorted by length."),
]
MaxWaitOpt = Annotated[
    float, typer.Option("--max-wait-ms", help="Longest a request waits for its batch to fill.")
]
MaxQueueOpt = Annotated[int, typer.Option("--max-queue", help="Texts waiting before 429s.")]
TimeoutMsOpt = Annotated[float, typer.Option("--timeout-ms", help="Deadline per request (503 after).")]
AdmissionOpt = Annotated[
    bool,
    typer.Option(
        "--admission/--no-admission",
        help="Refuse (429) at arrival a request whose predicted wait exceeds half its deadline.",
    ),
]
NoBatchingOpt = Annotated[
    bool, typer.Option("--no-batching", help="One inference per request (the 'before' configuration).")
]
WorkersOpt = Annotated[
    int, typer.Option("--workers", help="Server processes sharing the port (one model each).")
]
InferWorkersOpt = Annotated[
    int,
    typer.Option(
        "--inference-workers",
        help="Batches run at once per server process (threads sharing its model): a short request need not "
        "wait behind a long one.",
    ),
]
BrownoutOpt = Annotated[
    float | None,
    typer.Option(
        "--brownout-ms",
        help="A cascade only: a batch whose oldest request waited this long skips the most expensive level "
        "(twice as long: two levels...), so overload costs quality before it refuses requests. Default: off.",
    ),
]
EngineOpt = Annotated[str, typer.Option("--engine", help="uvicorn (default) or ray (Ray Serve replicas).")]
ReplicasOpt = Annotated[int, typer.Option("--replicas", help="ray: fixed number of replicas.")]
AddressOpt = Annotated[
    str | None,
    typer.Option("--address", help="ray: join this cluster (auto, HOST:PORT, ray://...); default: local."),
]


ApiKeyEnvOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key-env",
        help="Environment variable holding the bearer token: serve requires it on all but /health; "
        "bench sends it (and requires it of the server it starts).",
    ),
]


def shared_serve_config(options: dict, **more):
    """The ``ServeConfig`` of the shared options above, taken from a command's ``locals()``, plus ``more``."""
    from llm_router.serve import ServeConfig

    keys = (
        "device",
        "threads",
        "max_batch",
        "infer_batch_size",
        "max_wait_ms",
        "max_queue",
        "timeout_ms",
        "admission",
        "workers",
        "inference_workers",
        "brownout_ms",
    )
    return ServeConfig(batching=not options["no_batching"], **{k: options[k] for k in keys}, **more)


@app.command()
def serve(
    model: Annotated[
        str,
        typer.Option("--model", help="Model folder (or .onnx file), or fake:DELAY_MS for a stand-in model."),
    ],
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    device: DeviceOpt = "cpu",
    threads: ServeThreadsOpt = 1,
    max_batch: MaxBatchOpt = 32,
    infer_batch_size: InferBatchOpt = None,
    max_wait_ms: MaxWaitOpt = 2.0,
    max_queue: MaxQueueOpt = 1024,
    timeout_ms: TimeoutMsOpt = 1000.0,
    admission: AdmissionOpt = True,
    no_batching: NoBatchingOpt = False,
    adaptive_wait: Annotated[
        bool,
        typer.Option(
            "--adaptive-wait/--no-adaptive-wait", help="Wait for a batch only when more requests are due."
        ),
    ] = True,
    max_body_bytes: Annotated[int, typer.Option("--max-body-bytes", help="Larger bodies get 413.")] = 65536,
    max_batch_texts: Annotated[
        int, typer.Option("--max-batch-texts", help="Most texts per /route/batch.")
    ] = 256,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "warning",
    workers: WorkersOpt = 1,
    inference_workers: InferWorkersOpt = 2,
    brownout_ms: BrownoutOpt = None,
    engine: EngineOpt = "uvicorn",
    replicas: ReplicasOpt = 1,
    min_replicas: Annotated[
        int | None, typer.Option("--min-replicas", help="ray: autoscale from this many replicas.")
    ] = None,
    max_replicas: Annotated[
        int | None, typer.Option("--max-replicas", help="ray: autoscale up to this many replicas.")
    ] = None,
    cpus_per_replica: Annotated[
        float, typer.Option("--cpus-per-replica", help="ray: CPUs reserved per replica.")
    ] = 1.0,
    address: AddressOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    open_metrics: Annotated[
        bool, typer.Option("--open-metrics", help="With a token: leave /metrics readable without it.")
    ] = False,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow a non-loopback --host without a token.")
    ] = False,
) -> None:
    """Serve a router model over HTTP: POST /route, /route/batch; GET /health, /ready, /metrics."""
    from llm_router.serve import run_server
    from llm_router.serve.auth import check_exposure, read_token

    server_engine_args(engine, workers, replicas)
    check_exposure(host, api_key_env, insecure)
    if api_key_env:
        read_token(api_key_env)  # a missing or weak token fails before anything starts

    config = shared_serve_config(
        locals(),
        host=host,
        port=port,
        adaptive_wait=adaptive_wait,
        max_body_bytes=max_body_bytes,
        max_batch_texts=max_batch_texts,
        log_level=log_level,
        api_key_env=api_key_env,
        open_metrics=open_metrics,
    )
    if engine == "ray":
        from llm_router.serve.ray_engine import RayServeOptions, run_ray_server

        options = RayServeOptions(
            replicas=replicas,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            cpus_per_replica=cpus_per_replica,
            address=address,
        )
        run_ray_server(model, config, options)
        return
    run_server(model, config)


# ------------------------------------------------------------------------------------------------- route
@app.command("route")
def route_command(
    model: Annotated[str, typer.Option("--model", help="Model folder (or .onnx file), or fake:DELAY_MS.")],
    data: Annotated[Path, typer.Option("--data", help="Input file: CSV, TSV, JSONL or Parquet.")],
    out: Annotated[
        Path, typer.Option("--out", help="Output file (format by extension; written atomically).")
    ],
    text_col: TextColOpt = "text",
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Rows read, routed and written at a time.")
    ] = 4096,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Texts per model call.")] = 64,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            help="Model threads (local: all cores; ray: the cores shared among workers, 1 on a cluster).",
        ),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
    engine: Annotated[str, typer.Option("--engine", help="local (one process) or ray (Ray Data).")] = "local",
    workers: Annotated[int, typer.Option("--workers", help="ray: Ray Data actors, one model each.")] = 1,
    address: AddressOpt = None,
    keep_columns: Annotated[
        bool, typer.Option("--keep-columns/--no-keep-columns", help="Copy the input columns to the output.")
    ] = True,
    json_path: JsonOpt = None,
) -> None:
    """Route every text of a file: adds route, confidence and p_<route> columns; streams in chunks."""
    import signal
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from llm_router.batch import BatchRouteConfig, route_file

    config = BatchRouteConfig(
        model=model,
        data=str(data),
        out=str(out),
        text_col=text_col,
        chunk_size=chunk_size,
        batch_size=batch_size,
        threads=threads,
        device=device,
        engine=engine,
        workers=workers,
        address=address,
        keep_columns=keep_columns,
    )

    def interrupted(signum, frame):  # SIGTERM unwinds like Ctrl-C, so the temporary output is removed
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    columns = (TextColumn("routing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn())  # fmt: skip
    try:
        with Progress(*columns, console=err_console, transient=True) as progress:
            task = progress.add_task("route", total=None, rate="")
            started = time.perf_counter()

            def on_progress(done: int, total: int | None) -> None:
                elapsed = time.perf_counter() - started
                rate = f"{done / elapsed:,.0f} texts/s" if elapsed > 0 else ""
                progress.update(task, completed=done, total=max(total or 0, done) or None, rate=rate)

            result = route_file(config, on_progress)
    finally:
        signal.signal(signal.SIGTERM, previous)
    routes = ", ".join(f"{r} {n}" for r, n in result["routes"].items())
    console.print(
        f"routed {result['rows']} rows in {result['seconds']:.1f} s ({result['texts_per_s']} texts/s, "
        f"engine {engine}) -> {out}; {routes}; blank texts {result['blank_texts']}",
        highlight=False,
    )
    write_json(json_path, result)


# ------------------------------------------------------------------------------------------------- bench
def _int_list(value: str | None, name: str) -> list[int] | None:
    if not value:
        return None
    try:
        return [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise RouterError(f"{name} must be comma-separated integers, got {value!r}") from None


def server_engine_args(engine: str, workers: int, replicas: int) -> list[str]:
    """The `router serve` options that pick the engine (for a benchmark's child server); checks them."""
    if engine not in ("uvicorn", "ray"):
        raise RouterError(f"--engine must be uvicorn or ray, got {engine!r}")
    if engine == "ray" and workers != 1:
        raise RouterError("--workers is for --engine uvicorn; use --replicas with --engine ray")
    return ["--engine", "ray", "--replicas", str(replicas)] if engine == "ray" else []


@app.command()
def bench(
    ctx: typer.Context,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model folder or fake:DELAY_MS (a server is started for it)."),
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="A running server (loopback only).")] = None,
    mode: Annotated[
        str, typer.Option("--mode", help="http (open-loop load) or inprocess (model alone).")
    ] = "http",
    rps: Annotated[float, typer.Option("--rps", help="Requests per second.")] = 100.0,
    duration: Annotated[float, typer.Option("--duration", help="Measured seconds.")] = 60.0,
    warmup: Annotated[
        float, typer.Option("--warmup", help="Seconds at the same rate before measuring.")
    ] = 5.0,
    arrival: Annotated[str, typer.Option("--arrival", help="uniform or poisson.")] = "uniform",
    data: DataOpt = None,
    text_col: TextColOpt = "text",
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="Only the texts of --data in this part (train, val, test) of the model's split.json.",
        ),
    ] = None,
    device: DeviceOpt = "cpu",
    threads: ServeThreadsOpt = 1,
    max_batch: MaxBatchOpt = 32,
    infer_batch_size: InferBatchOpt = None,
    max_wait_ms: MaxWaitOpt = 2.0,
    max_queue: MaxQueueOpt = 1024,
    timeout_ms: TimeoutMsOpt = 1000.0,
    admission: AdmissionOpt = True,
    no_batching: NoBatchingOpt = False,
    workers: WorkersOpt = 1,
    inference_workers: InferWorkersOpt = 2,
    brownout_ms: BrownoutOpt = None,
    engine: EngineOpt = "uvicorn",
    replicas: ReplicasOpt = 1,
    connections: Annotated[
        int, typer.Option("--connections", help="Initial client connections (0: auto).")
    ] = 0,
    find_max: Annotated[
        bool, typer.Option("--find-max", help="Raise the rate step by step until the SLO breaks.")
    ] = False,
    slo_ms: Annotated[float, typer.Option("--slo-ms", help="p99 SLO for --find-max.")] = 50.0,
    start_rps: Annotated[float, typer.Option("--start-rps", help="First --find-max rate.")] = 100.0,
    step_duration: Annotated[
        float, typer.Option("--step-duration", help="Seconds per --find-max step.")
    ] = 10.0,
    thread_counts: Annotated[
        str | None, typer.Option("--thread-counts", help="inprocess: e.g. 1,2 (default 1 and all cores).")
    ] = None,
    batch_sizes: Annotated[
        str | None, typer.Option("--batch-sizes", help="inprocess: e.g. 1,2,4,8,16,32,64.")
    ] = None,
    api_key_env: ApiKeyEnvOpt = None,
    json_path: JsonOpt = None,
) -> None:
    """Benchmark: open-loop HTTP load (p50..p99.9 at a fixed rate, or --find-max) or the model in-process."""
    from llm_router.bench.report import print_http_result, print_inprocess_result

    def say(msg: str) -> None:
        err_console.print(f"[dim]{rich_escape(msg)}[/]", highlight=False)

    if mode not in ("http", "inprocess"):
        raise RouterError(f"--mode must be http or inprocess, got {mode!r}")
    _refuse_options_of_the_other_mode(ctx, mode)
    if mode == "inprocess":
        from llm_router.bench.inprocess import InprocessBenchConfig, cuda_available, run_inprocess_bench

        if model is None:
            raise RouterError("--mode inprocess needs --model")
        devices = [device]
        if device == "cpu" and not model.startswith("fake") and cuda_available():
            devices.append("cuda")
        icfg = InprocessBenchConfig(
            model=model, devices=devices, data=str(data) if data else None, text_col=text_col, split=split
        )
        if thread_counts:
            icfg.thread_counts = _int_list(thread_counts, "--thread-counts")
        if batch_sizes:
            icfg.batch_sizes = _int_list(batch_sizes, "--batch-sizes")
        icfg.__post_init__()
        result = run_inprocess_bench(icfg, progress=say)
        print_inprocess_result(result, console)
    else:  # http
        from llm_router.bench.http import HttpBenchConfig, run_http_bench

        serve_config = shared_serve_config(locals())
        hcfg = HttpBenchConfig(
            model=model,
            url=url,
            rps=rps,
            duration_s=duration,
            warmup_s=warmup,
            arrival=arrival,
            data=str(data) if data else None,
            text_col=text_col,
            split=split,
            connections=connections,
            serve=serve_config,
            find_max=find_max,
            slo_ms=slo_ms,
            start_rps=start_rps,
            step_duration_s=step_duration,
            server_args=server_engine_args(engine, workers, replicas),
            api_key_env=api_key_env,
        )
        result = run_http_bench(hcfg, progress=say)
        print_http_result(result, console)
    write_json(json_path, result)


#: `router bench` options that both modes read; of the others, these two are in-process only, the rest HTTP only
BENCH_SHARED = {"model", "mode", "data", "text_col", "split", "device", "json_path"}
BENCH_INPROCESS_ONLY = {"thread_counts", "batch_sizes"}


def _refuse_options_of_the_other_mode(ctx: typer.Context, mode: str) -> None:
    """An option given on the command line that the chosen --mode does not read would be ignored silently."""
    # (the source by name: typer may carry its own copy of click, whose ParameterSource is another enum)
    given = [
        p.name
        for p in ctx.command.params
        if p.name not in BENCH_SHARED
        and getattr(ctx.get_parameter_source(p.name), "name", None) == "COMMANDLINE"
    ]
    other = "http" if mode == "inprocess" else "inprocess"
    foreign = [n for n in given if (n in BENCH_INPROCESS_ONLY) == (other == "inprocess")]
    if foreign:
        flags = ", ".join("--" + n.replace("_", "-") for n in foreign)
        verb = "applies" if len(foreign) == 1 else "apply"
        raise RouterError(f"{flags} {verb} to --mode {other} only; this run is --mode {mode}")


# ----------------------------------------------------------------------------------------------- distill
@app.command()
@with_options(dataclass_options(DistillConfig))
def distill(
    teacher: Annotated[Path, typer.Option("--teacher", help="Teacher model folder (`router train` output).")],
    out: Annotated[Path, typer.Option("--out", help="Student folder to write (same format as the teacher).")],
    options: dict | None = None,
    json_path: JsonOpt = None,
) -> None:
    """Distil a teacher into a small, fast student (layers:K, an HF model, or a static model)."""
    from llm_router.distill.distill import distill as run_distill

    result = run_distill(teacher, out, DistillConfig().replace(**options))
    print_distill_result(result)
    write_json(
        json_path,
        {
            "out": str(result.out_dir),
            "metrics": result.metrics,
            "teacher_metrics": result.teacher_metrics,
            "info": result.info,
        },
    )


def print_distill_result(result) -> None:
    from rich.table import Table

    info = result.info
    table = Table(title=f"{result.student} student -> {result.out_dir}")
    table.add_column("")
    table.add_column("teacher", justify="right")
    table.add_column("student", justify="right")
    m, t = result.metrics, result.teacher_metrics
    if m and t:
        table.add_row("test macro F1", f"{t['macro_f1']:.3f}", f"{m['macro_f1']:.3f}")
        table.add_row("test accuracy", f"{t['accuracy']:.3f}", f"{m['accuracy']:.3f}")
    table.add_row("parameters", f"{info.get('teacher_params', 0):,}", f"{info.get('student_params', 0):,}")
    vocab = info.get("vocab")
    if vocab:
        table.add_row("vocabulary", f"{vocab['old_vocab_size']:,}", f"{vocab['new_vocab_size']:,}")
        unk = vocab.get("test_unknown") or {}
        if unk.get("n_texts"):
            table.add_row("test texts with an unknown token", "", f"{unk['texts_with_unk']}/{unk['n_texts']}")
    console.print(table)
    console.print(f"transfer set: {info['transfer_set']}")


# ----------------------------------------------------------------------------------------------- compare
@app.command()
def compare(
    models: Annotated[
        list[str],
        typer.Argument(
            help="Model folders (or .onnx files), optionally NAME=PATH, space- or comma-separated; the first is "
            "the speed baseline."
        ),
    ],
    models_flag: Annotated[
        bool, typer.Option("--models", help="Optional marker before the model list: --models A B C.")
    ] = False,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="The models' data file, if it moved (default: router.json's)."),
    ] = None,
    threads: Annotated[int, typer.Option("--threads", help="Threads for every model.")] = 2,
    n_latency: Annotated[int, typer.Option("--n-latency", help="Batch-1 calls timed per model.")] = 300,
    json_path: JsonOpt = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Pareto PNG (macro F1 vs p99); default: next to --json.")
    ] = None,
) -> None:
    """Compare models on the same test split and threads: size, latency, throughput, accuracy, macro F1."""
    from llm_router.eval.compare import CompareConfig, compare_models, comparison_table, pareto_png

    check_png(plot, "--plot")
    config = CompareConfig(threads=threads, n_latency=n_latency, data=str(data) if data else None)
    # `A,B` as `router cascade --levels` takes them (a path that exists with a comma in it stays whole)
    models = [part for m in models for part in ([m] if Path(m).exists() else m.split(",")) if part]
    rows = compare_models(models, config)
    title = f"same test split ({rows[0]['n_test']} texts), {threads} threads"
    console.print(comparison_table(rows, title=title), width=max(console.width, 150))  # never elide numbers
    write_json(json_path, rows)
    plot = plot or (json_path.with_suffix(".png") if json_path else None)
    if plot:
        pareto_png(rows, plot)
        console.print(f"wrote {plot}")


@app.command()
def cascade(
    levels: Annotated[
        str,
        typer.Option(
            "--levels",
            help="Comma-separated model folders, cheapest first; the last (the teacher) is the reference.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Cascade folder to write (atomically).")],
    target_agreement: Annotated[
        float,
        typer.Option(
            "--target-agreement",
            help="Share of validation texts (and copies) routed as the reference routes them (an optimistic "
            "estimate: 0.99 here was 0.967 on the demo test split).",
        ),
    ] = 0.99,
    names: Annotated[
        str | None, typer.Option("--names", help="Comma-separated level names (default: folder names).")
    ] = None,
    threads: Annotated[int, typer.Option("--threads", help="Threads of every level.")] = 1,
    data: Annotated[
        Path | None, typer.Option("--data", help="The data file, if it moved (default: router.json's).")
    ] = None,
    absolute: Annotated[
        bool, typer.Option("--absolute-paths", help="Write absolute level paths (default: relative).")
    ] = False,
    probe_copies: Annotated[
        int,
        typer.Option(
            "--probe-copies",
            help="Augmented copies of each validation text that join the threshold choice (labelled by the "
            "last level; 0 = the validation texts alone).",
        ),
    ] = 8,
    max_cost_ms: Annotated[
        float | None,
        typer.Option(
            "--max-cost-ms",
            help="Batch-1 ms per text the thresholds may cost (e.g. 1000 / (2 x the served rate) on one "
            "inference thread); when the target agreement costs more, the highest agreement within it. The "
            "chosen cascade is then run on the texts; when it measures >5% off the cost model, the thresholds "
            "are chosen again with the costs it measured (at most 5 choices; the best measured one is kept).",
        ),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate",
            help="Requests/s the cascade will serve: a first-come first-served queue of its measured per-text "
            "costs is simulated at this rate (cascade.json 'queue').",
        ),
    ] = None,
    max_p99_ms: Annotated[
        float | None,
        typer.Option(
            "--max-p99-ms",
            help="Bound on that simulated p99 (needs --rate); above it the cost bound tightens for a cheaper choice.",
        ),
    ] = None,
    inference_workers: Annotated[
        int,
        typer.Option(
            "--inference-workers",
            help="Inference threads that will serve it in parallel (router serve --inference-workers, at most "
            "the CPU count): the servers of the simulated queue.",
        ),
    ] = 1,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            help="Measure agreement against this model (folder or .onnx file; not served), e.g. the float teacher "
            "when the last level is its INT8 copy. Default: the last level.",
        ),
    ] = None,
    json_path: JsonOpt = None,
) -> None:
    """Build a confidence cascade: a cheap level answers when its top probability reaches its threshold, else the
    next level does. Thresholds are the cheapest reaching --target-agreement with the reference (default: the last
    level) on the validation split (within --max-cost-ms: else the highest agreement within it)."""
    from llm_router.eval.cascade import CascadeConfig, build_cascade, cascade_summary

    config = CascadeConfig(
        levels=[p.strip() for p in levels.split(",") if p.strip()],
        out=str(out),
        target_agreement=target_agreement,
        names=[n.strip() for n in names.split(",")] if names else None,
        threads=threads,
        data=str(data) if data else None,
        absolute_paths=absolute,
        probe_copies=probe_copies,
        max_cost_ms=max_cost_ms,
        rate=rate,
        max_p99_ms=max_p99_ms,
        inference_workers=inference_workers,
        reference=reference,
    )
    report = build_cascade(config)
    console.print(cascade_summary(report), highlight=False)
    if report.get("note"):
        console.print(f"[yellow]note:[/] {report['note']}", highlight=False)
    console.print(f"wrote {out}")
    write_json(json_path, report)


@app.command()
@with_options(dataclass_options(ExitsConfig))
def exits(
    model: Annotated[
        Path,
        typer.Option(
            "--model", help="The teacher's ONNX folder (`router quantize` output, e.g. teacher-int8)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Early-exit folder to write (atomically).")],
    layers: Annotated[
        str | None,
        typer.Option(
            "--exits",
            help="Comma-separated layers after which an exit head may answer (default: 1/6, 1/3, 1/2 and 2/3 "
            "of the depth: 2,4,6,8 of 12).",
        ),
    ] = None,
    options: dict | None = None,
    json_path: JsonOpt = None,
) -> None:
    """Build an early-exit model: the teacher's ONNX file cut after a few layers, a linear exit head after each
    cut. A text continues from where it stopped until a head is sure of it (thresholds chosen on the validation
    texts and copies for --target-agreement with the float teacher), so escalation recomputes nothing."""
    from llm_router.distill.exits import build_early_exit, exits_summary

    try:
        cuts = [int(x) for x in layers.split(",") if x.strip()] if layers else None
    except ValueError:
        raise RouterError(f"--exits {layers!r}: expected comma-separated layer numbers, e.g. 2,4,6") from None
    given = {name: value for name, value in options.items() if value is not None}
    report = build_early_exit(ExitsConfig(model=str(model), out=str(out), exits=cuts, **given))
    console.print(exits_summary(report), highlight=False)
    if report.get("note"):
        console.print(f"[yellow]note:[/] {report['note']}", highlight=False)
    console.print(f"wrote {out}")
    write_json(json_path, report)


# ------------------------------------------------------------------------------------------ train / cv / tune
# Every training option maps 1:1 onto a field of llm_router.train.config.TrainConfig; None = "not given", so
# `--config best.json` supplies it (or the TrainConfig default does).
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="JSON of training options (e.g. `router tune` output); "
        "options given on the command line override it.",
    ),
]
MethodOpt = Annotated[str | None, typer.Option("--method", help="finetune | setfit.")]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Base encoder: hub id or local folder; 'auto' (default): all-MiniLM-L6-v2 for English-only "
        "data, else multilingual-e5-small.",
    ),
]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", help="Training epochs.")]
LrOpt = Annotated[float | None, typer.Option("--lr", "--learning-rate", help="Learning rate of the encoder.")]
HeadLrOpt = Annotated[
    float | None, typer.Option("--head-lr", help="Learning rate of the classification head.")
]
HeadWarmupOpt = Annotated[
    int | None,
    typer.Option("--head-warmup-epochs", help="Train only the head this many epochs first (LP-FT)."),
]
SoupOpt = Annotated[
    int | None,
    typer.Option("--soup", help="Train N copies (other order / dropout) and average their weights."),
]
LlrdOpt = Annotated[
    float | None,
    typer.Option("--layer-lr-decay", help="Layer-wise lr decay (< 1: lower layers learn slower)."),
]
BatchOpt = Annotated[int | None, typer.Option("--batch-size", help="Training batch size.")]
MaxLenOpt = Annotated[
    int | None,
    typer.Option(
        "--max-length", help="Token truncation (default: p99 of the training texts' token lengths)."
    ),
]
TimeBudgetOpt = Annotated[
    float | None,
    typer.Option(
        "--time-budget",
        help="Seconds: fewer epochs when all of them would take longer (default 900; 0 = none, reproducible).",
    ),
]
WarmupOpt = Annotated[float | None, typer.Option("--warmup", help="Warm-up share of the training steps.")]
WdOpt = Annotated[float | None, typer.Option("--weight-decay", help="AdamW weight decay.")]
DropoutOpt = Annotated[
    float | None, typer.Option("--dropout", help="Dropout of every layer (default: the model's).")
]
OptimOpt = Annotated[str | None, typer.Option("--optimizer", help="adamw | adam | sgd.")]
SchedOpt = Annotated[
    str | None, typer.Option("--scheduler", help="linear | cosine | constant (after warm-up).")
]
SmoothOpt = Annotated[float | None, typer.Option("--label-smoothing", help="Cross-entropy label smoothing.")]
FreezeOpt = Annotated[
    bool | None,
    typer.Option("--freeze-embeddings/--train-embeddings", help="Freeze the word-embedding matrix."),
]
EncoderLayersOpt = Annotated[
    int | None,
    typer.Option(
        "--encoder-layers",
        help="Keep only the encoder's first K layers (a shallower, faster model); default all.",
    ),
]
LayersOpt = Annotated[
    int | None,
    typer.Option(
        "--trainable-layers",
        help="Train only the top K encoder layers (the rest is computed once and cached); default all.",
    ),
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed (split, initialisation, order).")]
WeightsOpt = Annotated[
    str | None,
    typer.Option("--class-weights", help="auto (balanced if imbalanced) | none | balanced | sqrt."),
]
OversampleOpt = Annotated[
    float | None,
    typer.Option(
        "--oversample",
        help="Repeat minority-class rows up to this share of the majority "
        "class (0 = off, 1 = fully balanced).",
    ),
]
AugmentOpt = Annotated[
    str | None,
    typer.Option(
        "--augment",
        help="Augmenters and copies per minority example, e.g. "
        "'typo:2,spacing:1,swap:1' or 'backtranslate:1@FWD+BWD'; 'none' = off.",
    ),
]
AugScopeOpt = Annotated[
    str | None, typer.Option("--augment-scope", help="minority | all: which rows to augment.")
]
TrainLabelOpt = Annotated[
    str | None,
    typer.Option(
        "--train-label-col",
        help="Train on this finer label column (e.g. intent) and map predictions to routes with --route-map.",
    ),
]
RouteMapOpt = Annotated[
    str | None,
    typer.Option("--route-map", help="JSON {label: route}, or 'auto' (each label's majority route)."),
]
PatienceOpt = Annotated[
    int | None,
    typer.Option(
        "--early-stopping",
        help="Stop after this many epochs without a validation macro-F1 "
        "gain and keep the best epoch (0 = off).",
    ),
]
BestEpochOpt = Annotated[
    bool | None, typer.Option("--select-best-epoch/--last-epoch", help="Keep the best validation epoch.")
]
TestSizeOpt = Annotated[float | None, typer.Option("--test-size", help="Held-out test share (train).")]
ValSizeOpt = Annotated[float | None, typer.Option("--val-size", help="Validation share (0 = none).")]
GroupColOpt = Annotated[
    str | None,
    typer.Option(
        "--group-col",
        help="Rows sharing this column's value (a conversation, a user) never span two splits or CV folds.",
    ),
]
SetfitItersOpt = Annotated[int | None, typer.Option("--setfit-iterations", help="SetFit pairs per example.")]
SetfitEpochsOpt = Annotated[
    int | None, typer.Option("--setfit-body-epochs", help="SetFit contrastive epochs.")
]
SetfitLrOpt = Annotated[
    float | None, typer.Option("--setfit-body-lr", help="SetFit contrastive learning rate.")
]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="Torch threads (default 2).")]

# name of the TrainConfig field -> its option; `router train`, `cv` and `tune` all take every one of them.
TRAINING_OPTIONS = {
    "method": MethodOpt,
    "model": ModelOpt,
    "epochs": EpochsOpt,
    "learning_rate": LrOpt,
    "head_learning_rate": HeadLrOpt,
    "layer_lr_decay": LlrdOpt,
    "head_warmup_epochs": HeadWarmupOpt,
    "soup": SoupOpt,
    "batch_size": BatchOpt,
    "max_length": MaxLenOpt,
    "time_budget_s": TimeBudgetOpt,
    "warmup_ratio": WarmupOpt,
    "weight_decay": WdOpt,
    "dropout": DropoutOpt,
    "optimizer": OptimOpt,
    "scheduler": SchedOpt,
    "label_smoothing": SmoothOpt,
    "freeze_embeddings": FreezeOpt,
    "trainable_layers": LayersOpt,
    "encoder_layers": EncoderLayersOpt,
    "seed": SeedOpt,
    "class_weights": WeightsOpt,
    "oversample": OversampleOpt,
    "augment": AugmentOpt,
    "augment_scope": AugScopeOpt,
    "train_label_col": TrainLabelOpt,
    "route_map": RouteMapOpt,
    "early_stopping_patience": PatienceOpt,
    "select_best_epoch": BestEpochOpt,
    "test_size": TestSizeOpt,
    "val_size": ValSizeOpt,
    "group_col": GroupColOpt,
    "setfit_iterations": SetfitItersOpt,
    "setfit_body_epochs": SetfitEpochsOpt,
    "setfit_body_learning_rate": SetfitLrOpt,
    "threads": ThreadsOpt,
}


#: `router train`, `cv` and `tune` each take every training option (see :func:`llm_router.cli_options.with_options`).
with_training_options = with_options(TRAINING_OPTIONS)


def _load_training_data(data, text_col, label_col, labels, strict, config):
    from llm_router.data import demo_data_path, load_dataset, read_table
    from llm_router.train.targets import AUTO_LABEL_COLUMNS

    if config.train_label_col == "auto":  # load the finer label columns the file has, if any
        columns = set(read_table(data or demo_data_path()).columns)
        extra = tuple(c for c in AUTO_LABEL_COLUMNS if c in columns and c not in (text_col, label_col))
    else:
        extra = (config.train_label_col,) if config.train_label_col != "label" else ()
    if config.group_col and config.group_col not in extra:
        extra = (*extra, config.group_col)
    return load_dataset(
        data, text_col, label_col, labels=parse_labels(labels), strict=strict, extra_cols=extra
    )


@app.command()
@with_training_options
def train(
    data: DataOpt = None,
    text_col: TextColOpt = "text",
    label_col: LabelColOpt = "label",
    labels: LabelsOpt = None,
    strict: StrictOpt = False,
    out: Annotated[Path, typer.Option("--out", help="Model folder to write.")] = Path("router-model"),
    baselines: Annotated[
        bool,
        typer.Option(
            "--baselines/--no-baselines",
            help="Also fit TF-IDF + LR (servable, OUT/tfidf) and frozen-encoder + LR on the same split.",
        ),
    ] = False,
    config: ConfigOpt = None,
    options: dict | None = None,
    json_path: JsonOpt = None,
) -> None:
    """Fine-tune a router (sequence classifier) and write the model folder with its test-split metrics."""
    from llm_router.train.config import config_from_options
    from llm_router.train.fit import print_route_map, print_train_result
    from llm_router.train.fit import train as run_train

    cfg = config_from_options(config, **options)
    df = _load_training_data(data, text_col, label_col, labels, strict, cfg)
    result = run_train(df, cfg, out)
    if result.targets.route_map and result.config.route_map == "auto":
        print_route_map(result.targets, console, result.targets.label_col)
    print_train_result(result, console)
    if baselines:
        from llm_router.train.baselines import print_baselines, run_baselines

        print_baselines(run_baselines(out, out / "tfidf"), console)
    write_json(
        json_path,
        {
            "out": str(result.out_dir),
            "metrics": result.metrics,
            "history": result.history,
            "config": result.config.to_dict(),
        },
    )


@app.command("eval")
def eval_command(
    model: Annotated[Path, typer.Option("--model", help="Model folder (hf, onnx or static) or .onnx file.")],
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Score on this file (default: the model's own held-out test split)."),
    ] = None,
    text_col: Annotated[str | None, typer.Option("--text-col", help="Text column of --data.")] = None,
    label_col: Annotated[
        str | None, typer.Option("--label-col", help="Label (route) column of --data.")
    ] = None,
    labels: LabelsOpt = None,
    strict: StrictOpt = False,
    n_boot: Annotated[
        int, typer.Option("--bootstrap", help="Bootstrap resamples for the macro-F1 interval.")
    ] = 1000,
    png: Annotated[
        Path | None,
        typer.Option(
            "--png",
            help="Confusion-matrix figure (default: beside --json, else in the "
            "model folder as eval_confusion_matrix.png).",
        ),
    ] = None,
    threads: ThreadsOpt = None,
    calibrate: Annotated[
        bool,
        typer.Option(
            "--calibrate",
            help="First fit a temperature on the model's validation split and store it (router calibrate).",
        ),
    ] = False,
    json_path: JsonOpt = None,
) -> None:
    """Accuracy, macro/weighted F1 with a bootstrap interval, per-class scores, confusion matrix, misroutes;
    ECE and Brier score before/after calibration with a reliability diagram."""
    from llm_router.eval import evaluate, print_report

    check_png(png, "--png")
    df = None
    if data is not None:
        from llm_router.data import load_dataset
        from llm_router.persistence import read_router_json

        info = read_router_json(model).get("data") or {} if model.is_dir() else {}
        df = load_dataset(
            data,
            text_col or info.get("text_col") or "text",
            label_col or info.get("label_col") or "label",
            labels=parse_labels(labels),
            strict=strict,
        )
    if png is None:
        folder = model if model.is_dir() else model.parent
        png = json_path.with_suffix(".png") if json_path else folder / "eval_confusion_matrix.png"
    if calibrate:
        from llm_router.cli_decisions import fit_and_print_calibration

        fit_and_print_calibration(model, None, threads)
    reliability = png.with_name(png.name.replace("confusion_matrix", "reliability"))
    if reliability == png:
        reliability = png.with_name(f"{png.stem}_reliability.png")
    report = evaluate(
        model, df, n_boot=n_boot, threads=threads, confusion_png=png, reliability_png=reliability
    )
    print_report(report, console, title=f"router eval {model}")
    write_json(json_path, report)


@app.command()
@with_training_options
def cv(
    data: DataOpt = None,
    text_col: TextColOpt = "text",
    label_col: LabelColOpt = "label",
    labels: LabelsOpt = None,
    strict: StrictOpt = False,
    folds: Annotated[int, typer.Option("--folds", help="Number of folds.")] = 5,
    repeats: Annotated[int, typer.Option("--repeats", help="Repeat the k-fold split with new shuffles.")] = 1,
    config: ConfigOpt = None,
    options: dict | None = None,
    json_path: JsonOpt = None,
) -> None:
    """Cross-validate one training configuration (deduplicated, stratified folds): mean and std of each metric."""
    from llm_router.train.config import config_from_options
    from llm_router.train.cv import cross_validate, print_cv_result

    cfg = config_from_options(config, **options)
    df = _load_training_data(data, text_col, label_col, labels, strict, cfg)
    result = cross_validate(df, cfg, folds=folds, repeats=repeats)
    print_cv_result(result, console)
    write_json(json_path, result)


@app.command()
@with_training_options
def tune(
    data: DataOpt = None,
    text_col: TextColOpt = "text",
    label_col: LabelColOpt = "label",
    labels: LabelsOpt = None,
    strict: StrictOpt = False,
    trials: Annotated[int, typer.Option("--trials", help="Number of configurations to try.")] = 20,
    folds: Annotated[
        int, typer.Option("--folds", help="CV folds per trial (0 = one validation split: faster, noisier).")
    ] = 3,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Stop starting new trials after this many s.")
    ] = None,
    best_out: Annotated[Path, typer.Option("--out", help="Best configuration (for --config).")] = Path(
        "best.json"
    ),
    config: ConfigOpt = None,
    options: dict | None = None,
    json_path: JsonOpt = None,
) -> None:
    """Search learning rate, batch size, epochs, dropout, weighting, over-sampling, augmentation (Optuna).

    Options given here are fixed; the others are searched."""
    from llm_router.data import demo_data_path, load_dataset, read_table
    from llm_router.train.config import config_from_options
    from llm_router.train.tune import print_trials
    from llm_router.train.tune import tune as run_tune
    from llm_router.utils import atomic_write_json

    base = config_from_options(config, **options)
    columns = set(
        read_table(data or demo_data_path()).columns
    )  # finer label columns are searched when present
    extra = tuple(c for c in ("category", "intent") if c in columns)
    if base.group_col and base.group_col not in extra:
        extra = (*extra, base.group_col)
    df = load_dataset(data, text_col, label_col, labels=parse_labels(labels), strict=strict, extra_cols=extra)
    fixed = [k for k, v in options.items() if v is not None]
    done: list[dict] = []

    def on_trial(row: dict) -> None:
        console.print(
            f"trial {row['trial']}: {row['state']}, macro F1 {row['macro_f1']:.3f}", highlight=False
        )
        done.append(row)
        if json_path:  # the trials so far survive an interrupted search
            atomic_write_json(json_path, {"partial": True, "trials": done})

    result = run_tune(df, base, trials=trials, folds=folds, timeout=timeout, fixed=fixed, on_trial=on_trial)
    print_trials(result, console)
    result.config.to_json(best_out)
    console.print(
        f"best macro F1 {result.best_value:.3f}; wrote {best_out} (use: router train --config {best_out})"
    )
    write_json(json_path, result.to_dict())


# ---------------------------------------------------------------------------------------------- pipeline
@app.command()
def pipeline(
    data: DataOpt = None,
    text_col: TextColOpt = "text",
    label_col: LabelColOpt = "label",
    train_label_col: Annotated[
        str | None,
        typer.Option("--train-label-col", help="Train on this finer label (e.g. intent), decide routes."),
    ] = None,
    route_map: Annotated[
        str | None,
        typer.Option("--route-map", help="JSON {label: route} or 'auto' (with --train-label-col)."),
    ] = None,
    group_col: GroupColOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Run folder.")] = Path("runs/demo"),
    teacher_model: Annotated[
        str, typer.Option("--teacher-model", help="Teacher encoder ('auto': chosen from the data's scripts).")
    ] = "auto",
    student: Annotated[
        str, typer.Option("--student", help="Student spec (layers:K, static, or a model).")
    ] = ("layers:4"),
    threads: Annotated[int, typer.Option("--threads", help="Inference threads for compare and serve.")] = 1,
    rps: Annotated[
        float,
        typer.Option(
            "--rps",
            help="Request rate the run is sized for and benchmarked at: the cascade's cost per text (1000 x 1.5 / "
            "(2 x rate) ms on two inference threads) and the served artefact's capacity follow it.",
        ),
    ] = 100.0,
    duration: Annotated[float, typer.Option("--duration", help="Seconds per HTTP benchmark run.")] = 30.0,
    find_max: Annotated[
        bool, typer.Option("--find-max/--no-find-max", help="Search the max rate under the SLO.")
    ] = False,
    static: Annotated[
        bool, typer.Option("--static/--no-static", help="Also distil a static-embedding student.")
    ] = True,
    baselines: Annotated[
        bool,
        typer.Option("--baselines/--no-baselines", help="TF-IDF + LR and frozen-encoder + LR as candidates."),
    ] = True,
    sample: Annotated[
        int | None, typer.Option("--sample", help="Use only this many rows (stratified).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    fast: Annotated[
        bool, typer.Option("--fast", help="Tiny settings (1 epoch, 3 s benchmarks): a smoke test.")
    ] = False,
    force: Annotated[
        list[str] | None,
        typer.Option("--force", help="Redo this stage (and the ones after it); 'all' redoes all."),
    ] = None,
    teacher_epochs: Annotated[
        int | None, typer.Option("--teacher-epochs", help="Teacher epochs (default: `router train`'s).")
    ] = None,
    time_budget: TimeBudgetOpt = None,
    student_epochs: Annotated[
        int | None, typer.Option("--student-epochs", help="Student epochs (early stopping may end sooner).")
    ] = 4,
    student_float_layers: Annotated[
        int,
        typer.Option(
            "--student-float-layers",
            help="Encoder layers of the student kept float in its INT8 file (first N).",
        ),
    ] = 1,
    teacher_float_layers: Annotated[
        int,
        typer.Option(
            "--teacher-float-layers",
            help="Encoder layers of the teacher kept float in its INT8 file (first N): the cascade's last level.",
        ),
    ] = 1,
    student_float_ffn: Annotated[
        str,
        typer.Option(
            "--student-float-ffn",
            help="Feed-forward projections of every student layer kept float in its INT8 file: none, out or all.",
        ),
    ] = "none",
    teacher_float_ffn: Annotated[
        str,
        typer.Option(
            "--teacher-float-ffn",
            help="Feed-forward projections of every teacher layer kept float in its INT8 file: none, out or all.",
        ),
    ] = "none",
    teacher_int8_scheme: Annotated[
        str,
        typer.Option(
            "--teacher-int8-scheme",
            help="The teacher's INT8 scheme: dynamic, blockwise, or auto (blockwise only when it flips "
            "significantly fewer validation routes).",
        ),
    ] = "auto",
    until: Annotated[
        str | None,
        typer.Option("--until", help="Stop after this stage (e.g. train now, benchmark on a quiet machine)."),
    ] = None,
    cascade: Annotated[
        bool,
        typer.Option(
            "--cascade/--no-cascade", help="Build a confidence cascade static -> student -> teacher."
        ),
    ] = True,
    cascade_target: Annotated[
        float,
        typer.Option(
            "--cascade-target",
            help="The cascade's and the early-exit model's agreement with the teacher (validation).",
        ),
    ] = 0.99,
    early_exit: Annotated[
        bool,
        typer.Option(
            "--early-exit/--no-early-exit",
            help="Build an early-exit model: exit heads on the INT8 teacher's own layers (`router exits`).",
        ),
    ] = True,
    serve_p99_ms: Annotated[
        float | None,
        typer.Option(
            "--serve-p99-ms",
            help="Serve the best-on-validation artefact with batch-1 p99 within this (default: --slo-ms) and "
            "throughput of at least twice --rps on the server's inference threads (two count as 1.5).",
        ),
    ] = None,
) -> None:
    """The main job: analyse, split, train, distil, quantise, evaluate, benchmark and report, resumably."""
    from llm_router.pipeline import PipelineConfig, run_pipeline

    cfg = PipelineConfig(
        data=str(data) if data else None,
        text_col=text_col,
        label_col=label_col,
        train_label_col=train_label_col,
        route_map=route_map,
        group_col=group_col,
        out=str(out),
        teacher_model=teacher_model,
        teacher_epochs=teacher_epochs,
        teacher_time_budget_s=time_budget,
        student=student,
        student_epochs=student_epochs,
        student_float_layers=student_float_layers,
        teacher_float_layers=teacher_float_layers,
        student_float_ffn=student_float_ffn,
        teacher_float_ffn=teacher_float_ffn,
        teacher_int8_scheme=teacher_int8_scheme,
        threads=threads,
        bench_rps=rps,
        bench_duration=duration,
        find_max=find_max,
        sample=sample,
        seed=seed,
        fast=fast,
        static_student=static,
        cascade=cascade,
        cascade_target=cascade_target,
        early_exit=early_exit,
        serve_p99_ms=serve_p99_ms,
        baselines=baselines,
    )
    state = run_pipeline(cfg, force=tuple(force or ()), console=console, until=until)
    if until and until != "report":
        console.print(f"[bold]stopped after {until}[/]; run again without --until to go on", highlight=False)
        return
    report = state.get("stages", {}).get("report", {})
    console.print(f"[bold]done:[/] {report.get('summary', '')}", highlight=False)


@app.command()
def report(
    run: Annotated[Path, typer.Option("--run", help="A `router pipeline` run folder.")] = Path("runs/demo"),
) -> None:
    """Write REPORT.md and its PNGs for a pipeline run, and print the conclusion."""
    from llm_router.eval.report import build_report

    res = build_report(run)
    c = res["conclusion"]
    console.print(f"wrote {res['report']}")
    if c:
        from llm_router.eval.report import conclusion_line

        console.print(conclusion_line(c), highlight=False, markup=False)


# calibrate, policy, costeval: registered on `app` by their own module
from llm_router import cli_decisions  # noqa: E402, F401


def main() -> None:
    """Entry point of the `router` console script."""
    app()


if __name__ == "__main__":
    # run the importable module's app: the commands of cli_decisions are registered on that one
    from llm_router.cli import main as _main

    _main()
