"""`router bench --mode inprocess`: the model alone, no HTTP.

- real-time: batch-1 latency distribution (one ``predict([text])`` after another) at each thread count;
- batch: texts per second for batch sizes 1..64;
- on CPU, and on CUDA as well when torch sees a GPU.

These are closed-loop measurements of the model's own cost: they bound what any server can do with it, and
they are the "in-process calls" row of the infrastructure comparison.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from llm_router.bench.http import check_split, environment, request_texts
from llm_router.errors import RouterError


def _default_threads() -> list[int]:
    n = os.cpu_count() or 1
    return [1] if n == 1 else [1, n]


@dataclass
class InprocessBenchConfig:
    model: str = "fake:0"
    devices: list[str] = field(default_factory=lambda: ["cpu"])
    thread_counts: list[int] = field(default_factory=_default_threads)
    batch_sizes: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64])
    latency_calls: int = 300  # batch-1 calls per thread count (after warm-up)
    seconds_per_batch_size: float = 2.0
    warmup_calls: int = 10
    data: str | None = None
    text_col: str = "text"
    # only the texts of this part of the model folder's split.json (as HttpBenchConfig)
    split: str | None = None

    def __post_init__(self) -> None:
        check_split(self.split, self.model)
        if not self.thread_counts or min(self.thread_counts) < 1:
            raise RouterError("--thread-counts must be positive integers")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise RouterError("--batch-sizes must be positive integers")
        if self.latency_calls < 1:
            raise RouterError("--latency-calls must be positive")


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def _percentiles_ms(seconds: list[float]) -> dict[str, float]:
    arr = np.asarray(seconds) * 1000.0
    p50, p90, p95, p99 = np.percentile(arr, [50, 90, 95, 99])
    return {
        "p50_ms": round(float(p50), 3),
        "p90_ms": round(float(p90), 3),
        "p95_ms": round(float(p95), 3),
        "p99_ms": round(float(p99), 3),
        "max_ms": round(float(arr.max()), 3),
        "mean_ms": round(float(arr.mean()), 3),
    }


def run_inprocess_bench(
    config: InprocessBenchConfig, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    from llm_router.serve.server import make_loader

    say = progress or (lambda msg: None)
    texts = request_texts(config)
    latency_rows: list[dict] = []
    throughput_rows: list[dict] = []
    for device in config.devices:
        for threads in config.thread_counts:
            source = make_loader(config.model, device, threads)
            predictor = source if hasattr(source, "predict") else source()
            say(f"{device}, {threads} thread(s): warm-up ...")
            for i in range(config.warmup_calls):
                predictor.predict([texts[i % len(texts)]], batch_size=1)
            times = []
            for i in range(config.latency_calls):
                text = texts[i % len(texts)]
                start = time.perf_counter()
                predictor.predict([text], batch_size=1)
                times.append(time.perf_counter() - start)
            row = {"device": device, "threads": threads, "calls": len(times), **_percentiles_ms(times)}
            row["max_rps_batch1"] = round(1000.0 / row["mean_ms"], 1) if row["mean_ms"] > 0 else None
            latency_rows.append(row)
            say(f"  batch-1 p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms")
            for batch_size in config.batch_sizes:
                batch = [texts[(j * 7) % len(texts)] for j in range(batch_size)]
                predictor.predict(batch, batch_size=batch_size)  # warm this shape
                calls, start = 0, time.perf_counter()
                while True:
                    predictor.predict(batch, batch_size=batch_size)
                    calls += 1
                    elapsed = time.perf_counter() - start
                    if elapsed >= config.seconds_per_batch_size and calls >= 3:
                        break
                throughput_rows.append(
                    {
                        "device": device,
                        "threads": threads,
                        "batch_size": batch_size,
                        "ms_per_batch": round(1000.0 * elapsed / calls, 3),
                        "texts_per_s": round(batch_size * calls / elapsed, 1),
                    }
                )
            del predictor
    return {
        "mode": "inprocess",
        "model": config.model,
        "split": config.split,  # None: every text of the data
        "latency": latency_rows,
        "throughput": throughput_rows,
        "environment": dict(environment(), note="in-process: one Python process, no HTTP, closed loop"),
        "config": asdict(config),
    }
