"""`router route`: route every text of a file offline, in bounded memory, on one process or on Ray Data.

Output: the input columns (unless ``keep_columns`` is off) plus ``route``, ``confidence`` (the top route's
probability) and one ``p_<route>`` column per route, the probabilities the ``Predictor`` returns (whatever
calibration it applies). A blank or missing text gets an empty route and null probabilities, and is counted.
Texts longer than ``max_text_chars`` are cut as the server cuts them.

Engines:

- ``local``: chunks of ``chunk_size`` rows are read, routed (model calls of ``batch_size`` texts, sorted by
  length) and appended to the output, with a rich progress bar; memory is bounded by one chunk.
- ``ray``: Ray Data reads the file, ``map_batches`` runs :class:`RouteBatch` (a callable class holding one
  ``Predictor`` per actor) on ``workers`` actors, and the driver streams the results into the same single output
  file, in input order. Ray starts on 127.0.0.1 unless ``address`` joins a cluster (``serve.ray_engine.init_ray``).

Either way the output is written to a temporary file and renamed into place.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llm_router.batch.io import ChunkWriter, count_rows, read_chunks, stream_format
from llm_router.errors import RouterError

ROUTE_COL, CONF_COL, PROB_PREFIX = "route", "confidence", "p_"


@dataclass
class BatchRouteConfig:
    """One `router route` run.

    ``model``: a model folder (or ``fake:DELAY_MS``); ``data`` / ``out``: input and output files (CSV, TSV,
    JSONL or Parquet, by extension; the two may differ); ``text_col``: the column to route. ``chunk_size``: rows
    read, routed and written at a time (the memory bound); ``batch_size``: texts per model call. ``threads``:
    intra-op threads of each model (default: all cores for ``local``; for ``ray``, this machine's cores shared
    among the workers on a local instance - one worker gets them all, as ``local`` has - and 1 per worker on a
    cluster joined with ``address``). ``engine``: ``local`` or ``ray``; ``workers``: Ray Data actors, one model
    each; ``address``: a Ray cluster to join.
    ``keep_columns``: copy the input columns to the output.
    """

    model: str
    data: str
    out: str
    text_col: str = "text"
    chunk_size: int = 4096
    batch_size: int = 64
    threads: int | None = None
    device: str = "cpu"
    engine: str = "local"
    workers: int = 1
    address: str | None = None
    keep_columns: bool = True
    max_text_chars: int = 4096

    @property
    def worker_threads(self) -> int:
        """Intra-op threads (and Ray CPUs) of each Ray Data worker: ``threads``, or the default above."""
        import os

        if self.threads is not None:
            return self.threads
        if self.address:
            return 1
        return max(1, (os.cpu_count() or 1) // self.workers)

    def __post_init__(self) -> None:
        if self.engine not in ("local", "ray"):
            raise RouterError(f"--engine must be local or ray, got {self.engine!r}")
        if self.chunk_size < 1 or self.batch_size < 1 or self.workers < 1:
            raise RouterError("--chunk-size, --batch-size and --workers must be >= 1")
        if self.threads is not None and self.threads < 1:
            raise RouterError("--threads must be >= 1")
        if self.engine == "local" and self.workers != 1:
            raise RouterError("--workers needs --engine ray (the local engine is one process)")
        stream_format(self.data)
        stream_format(self.out, "output")
        if Path(self.data).resolve() == Path(self.out).resolve():
            raise RouterError("--out must not be the input file")


def load_predictor(model: str, device: str = "cpu", threads: int | None = None) -> Any:
    """A predictor for ``model`` (a folder, ``.onnx`` file or ``fake:...`` spec), loaded now."""
    from llm_router.serve.server import make_loader

    source = make_loader(model, device, threads or 0)
    return source if hasattr(source, "predict") else source()


def annotate(
    df: pd.DataFrame,
    predictor: Any,
    text_col: str,
    batch_size: int = 64,
    keep_columns: bool = True,
    max_text_chars: int = 4096,
) -> pd.DataFrame:
    """``df`` with ``route``, ``confidence`` and ``p_<route>`` columns for its ``text_col`` (blank texts: empty
    route, null probabilities)."""
    if text_col not in df.columns:
        raise RouterError(f"no text column '{text_col}' (columns: {', '.join(map(str, df.columns))})")
    routes = [str(r) for r in predictor.routes]
    raw = df[text_col].tolist()
    texts = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in raw]
    live = [i for i, t in enumerate(texts) if t.strip()]
    probs = np.full((len(texts), len(routes)), np.nan)
    chosen: list[str | None] = [None] * len(texts)
    if live:
        prediction = predictor.predict([texts[i][:max_text_chars] for i in live], batch_size=batch_size)
        probs[live] = np.asarray(prediction.route_probs, dtype=np.float64)
        for i, route in zip(live, prediction.routes, strict=True):
            chosen[i] = route
    out = df.reset_index(drop=True) if keep_columns else pd.DataFrame(index=range(len(df)))
    added = {ROUTE_COL: chosen, CONF_COL: probs.max(axis=1)}  # NaN for blank texts
    added.update({f"{PROB_PREFIX}{r}": probs[:, j] for j, r in enumerate(routes)})
    clash = [c for c in added if c in out.columns]
    if clash:
        raise RouterError(
            f"the input already has column(s) {', '.join(clash)}; rename them or pass --no-keep-columns"
        )
    return out.assign(**added)


class RouteBatch:
    """Ray Data ``map_batches`` callable class: loads one ``Predictor`` per actor, routes pandas batches."""

    def __init__(self, model: str, device: str, threads: int | None, text_col: str, batch_size: int,
                 keep_columns: bool, max_text_chars: int):  # fmt: skip
        self.predictor = load_predictor(model, device, threads or 1)
        self.kwargs = {"text_col": text_col, "batch_size": batch_size, "keep_columns": keep_columns,
                       "max_text_chars": max_text_chars}  # fmt: skip

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return annotate(batch, self.predictor, **self.kwargs)


def _ray_chunks(config: BatchRouteConfig) -> Iterator[pd.DataFrame]:
    # a local instance offers a logical CPU more than the actors take, so that read tasks can still be scheduled
    # (with 2 cores and 2 one-CPU actors, Ray Data would otherwise wait for a free CPU forever)
    import os

    from llm_router.serve.ray_engine import init_ray

    threads = config.worker_threads
    logical = max(os.cpu_count() or 1, config.workers * threads + 1)
    init_ray(config.address, None if config.address else logical)
    import pyarrow as pa
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # output rows in input order
    ctx.enable_progress_bars = False  # ours is the rich bar in the driver
    ctx.print_on_execution_start = False
    fmt = stream_format(config.data)
    path = str(Path(config.data).resolve())
    # one file is often one block, which one actor would route alone: re-cut the stream (streaming, not a
    # shuffle) into blocks of at most a chunk, and small enough to give every worker at least two
    rows = count_rows(config.data) or config.chunk_size
    per_block = max(1, min(config.chunk_size, math.ceil(rows / (2 * config.workers))))
    try:
        if fmt == "parquet":
            ds = ray.data.read_parquet(path)
        elif fmt == "jsonl":
            ds = ray.data.read_json(path, lines=True)
        else:
            import pyarrow.csv as pacsv

            ds = ray.data.read_csv(
                path,
                parse_options=pacsv.ParseOptions(
                    delimiter="," if fmt == "csv" else "\t", newlines_in_values=True
                ),
                convert_options=pacsv.ConvertOptions(column_types={config.text_col: pa.string()}),
            )
        routed = ds.repartition(target_num_rows_per_block=per_block).map_batches(
            RouteBatch,
            fn_constructor_kwargs={
                "model": config.model,
                "device": config.device,
                "threads": threads,
                "text_col": config.text_col,
                "batch_size": config.batch_size,
                "keep_columns": config.keep_columns,
                "max_text_chars": config.max_text_chars,
            },  # fmt: skip
            batch_size=config.chunk_size,
            batch_format="pandas",
            compute=ray.data.ActorPoolStrategy(size=config.workers),
            num_cpus=threads,
        )
        yield from routed.iter_batches(batch_size=config.chunk_size, batch_format="pandas")
    except RouterError:
        raise
    except Exception as exc:
        cause = exc
        while getattr(cause, "cause", None) is not None:  # Ray wraps a RouterError raised in an actor
            cause = cause.cause
        if isinstance(cause, RouterError):
            raise RouterError(str(cause)) from None
        msg = " ".join(str(exc).split())[:300]
        raise RouterError(f"Ray Data failed: {type(exc).__name__}: {msg}") from None


def _local_chunks(config: BatchRouteConfig) -> Iterator[pd.DataFrame]:
    predictor = load_predictor(config.model, config.device, config.threads)
    for chunk in read_chunks(config.data, config.chunk_size):
        yield annotate(chunk, predictor, config.text_col, config.batch_size, config.keep_columns,
                       config.max_text_chars)  # fmt: skip


def route_file(
    config: BatchRouteConfig, on_progress: Callable[[int, int | None], None] | None = None
) -> dict:
    """Route ``config.data`` into ``config.out``; returns a summary (rows, blank texts, route counts, texts/s).

    ``on_progress(rows_done, rows_total_estimate)`` is called after each written chunk."""
    from llm_router.serve.server import make_loader

    make_loader(config.model, config.device, config.threads or 1)  # a wrong model fails before any work
    total = count_rows(config.data)
    started = time.perf_counter()
    counts: dict[str, int] = {}
    blank = 0
    first: tuple[float, int] | None = None  # (seconds, rows) when the first chunk was written
    chunks: Iterable[pd.DataFrame] = _ray_chunks(config) if config.engine == "ray" else _local_chunks(config)
    try:
        with ChunkWriter(config.out) as writer:
            for chunk in chunks:
                writer.write(chunk)
                if first is None:
                    first = (time.perf_counter() - started, writer.rows)
                routes = chunk[ROUTE_COL]
                blank += int(routes.isna().sum())
                for route, n in routes.value_counts().items():
                    counts[str(route)] = counts.get(str(route), 0) + int(n)
                if on_progress is not None:
                    on_progress(writer.rows, total)
            rows = writer.rows
    finally:
        if config.engine == "ray":
            import ray

            ray.shutdown()  # stops the local instance, or disconnects from --address
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "blank_texts": blank,
        "routes": dict(sorted(counts.items())),
        "seconds": round(seconds, 3),
        "texts_per_s": round(rows / seconds, 1) if seconds > 0 else None,
        # after the first chunk: start-up (Ray, model loading) excluded
        "first_chunk_s": round(first[0], 3) if first else None,
        "steady_texts_per_s": (
            round((rows - first[1]) / (seconds - first[0]), 1) if first and rows > first[1] else None
        ),
        "config": asdict(config),
    }
