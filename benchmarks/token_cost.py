"""Where an ONNX model's batch-1 time goes: a fixed cost per call and a cost per token.

Issue 13 asks for p99 <= 5 ms at 100 requests/s, and the artefact that agrees with the teacher is the teacher's
INT8 file. This script times an ONNX folder's served file (ONNX Runtime, batch 1, ``--threads`` intra-op
threads, the runtime's own session options) on inputs of fixed token counts, fits ``ms = fixed + per_token x
tokens`` by least squares, and reads the token counts of a data split's texts through the folder's own tokenizer
(its prefix and ``max_length`` included), so the fit says what a text of the split costs and what it would take
to bring its p99 under a bound. Each folder's real texts are timed too (one at a time, in a shuffled order), as
a check of the fit; ``--profile-tokens N`` adds ONNX Runtime's own profile at N tokens (microseconds per call
and node count per operator type)::

    python benchmarks/token_cost.py runs/demo/teacher-int8 runs/demo/student-int8 --split test \\
        --json docs/results/token_cost_demo.json

The data file is the one the folder's ``router.json`` names (``--data`` overrides it).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np


def time_call(session, feeds: dict, repeats: int, warmup: int) -> float:
    """Median milliseconds of ``session.run`` over ``repeats`` calls after ``warmup``."""
    for _ in range(warmup):
        session.run(None, feeds)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def synthetic_feeds(predictor, tokens: int) -> dict:
    """Batch-1 inputs of exactly ``tokens`` tokens: the tokenizer's own start and end around a repeated piece (a
    token's identity does not change the work)."""
    ids = predictor.tokenizer.encode_one("routing").get("input_ids")[0].tolist()
    body = ids[1:-1] or ids
    row = [ids[0], *(body * tokens)[: max(tokens - 2, 0)], ids[-1]][:tokens]
    feeds = {
        "input_ids": np.array([row], dtype=np.int64),
        "attention_mask": np.ones((1, len(row)), dtype=np.int64),
        "token_type_ids": np.zeros((1, len(row)), dtype=np.int64),
    }
    return {name: feeds[name] for name in predictor.input_names}


def fit_line(tokens: list[int], ms: list[float]) -> tuple[float, float]:
    """``(fixed_ms, per_token_ms)``: the least-squares line through the timings."""
    per_token, fixed = np.polyfit(np.asarray(tokens, dtype=float), np.asarray(ms, dtype=float), 1)
    return float(fixed), float(per_token)


def split_texts(source: Path, info, data: str | None, split: str) -> list[str]:
    """The texts of ``split`` of the folder's data (``split.json``), or a one-line error."""
    from llm_router.errors import RouterError
    from llm_router.quantize.core import split_rows

    rows, reason = split_rows(source, info, data, (split,))
    if rows is None:
        raise RouterError(f"{source}: {reason}")
    return rows.texts


def profile_ops(predictor, tokens: int, threads: int, calls: int = 50) -> dict:
    """ONNX Runtime's own profile of ``calls`` batch-1 calls at ``tokens`` tokens: per operator type, the
    microseconds per call and the node count, most expensive first."""
    import onnxruntime as ort

    from llm_router.runtime.onnx_backend import session_options

    options = session_options(threads)
    with tempfile.TemporaryDirectory() as tmp:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(
            str(predictor.path / predictor.onnx_file), options, providers=["CPUExecutionProvider"]
        )
        feeds = synthetic_feeds(predictor, tokens)
        for _ in range(calls):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    micros: dict[str, float] = {}
    nodes: dict[str, int] = {}
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            op = event.get("args", {}).get("op_name", "?")
            micros[op] = micros.get(op, 0.0) + event["dur"] / calls
            nodes[op] = nodes.get(op, 0) + 1
    order = sorted(micros, key=micros.get, reverse=True)
    return {op: {"us_per_call": round(micros[op], 1), "nodes": nodes[op] // calls} for op in order}


def measure(
    source: Path,
    info,
    texts: list[str],
    lengths: list[int],
    threads: int,
    repeats: int,
    profile_tokens: int = 0,
) -> dict:
    """One folder (``source`` and its router.json ``info``): the timings at each token count, the fitted line, the
    split's token counts, and its real texts timed one at a time."""
    from llm_router.runtime.onnx_backend import OnnxPredictor

    predictor = OnnxPredictor(source, info, threads=threads)
    lengths = sorted({min(n, predictor.max_length) for n in lengths})
    at = {n: time_call(predictor.session, synthetic_feeds(predictor, n), repeats, warmup=10) for n in lengths}
    fixed, per_token = fit_line(list(at), list(at.values()))
    counts = [predictor.tokenizer.token_count(t) for t in texts]
    counts = [min(c, predictor.max_length) for c in counts]
    order = list(range(len(texts)))
    random.Random(0).shuffle(order)
    real = []
    for i in order * max(1, 300 // max(len(texts), 1)):
        feeds = predictor.tokenizer.encode_one(texts[i])
        feeds = {name: feeds[name] for name in predictor.input_names}
        start = time.perf_counter()
        predictor.session.run(None, feeds)
        real.append((time.perf_counter() - start) * 1000)
    predicted = [fixed + per_token * c for c in counts]
    profile = profile_ops(predictor, profile_tokens, threads) if profile_tokens else None
    return {
        "model": str(source),
        "onnx_file": predictor.onnx_file,
        "quantization": info.raw.get("quantization"),
        "max_length": predictor.max_length,
        "ms_at_tokens": {str(n): round(v, 4) for n, v in at.items()},
        "fixed_ms": round(fixed, 4),
        "per_token_ms": round(per_token, 5),
        "tokens": {q: float(np.percentile(counts, int(q[1:]))) for q in ("p50", "p90", "p99")},
        "predicted_ms": {
            q: round(float(np.percentile(predicted, int(q[1:]))), 3) for q in ("p50", "p90", "p99")
        },
        "measured_ms": {q: round(float(np.percentile(real, int(q[1:]))), 3) for q in ("p50", "p90", "p99")},
        "n_texts": len(texts),
        "n_timed": len(real),
        **({"profile_tokens": profile_tokens, "profile": profile} if profile else {}),
    }


def print_table(rows: list[dict], machine: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"batch-1 cost per call ({machine})")
    for col in (
        "model",
        "fixed ms",
        "ms / token",
        "tokens p50 / p99",
        "fit p50 / p99 ms",
        "measured p50 / p99 ms",
    ):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        table.add_row(
            f"{Path(r['model']).name}/{r['onnx_file']}",
            f"{r['fixed_ms']:.2f}",
            f"{r['per_token_ms']:.3f}",
            f"{r['tokens']['p50']:.0f} / {r['tokens']['p99']:.0f}",
            f"{r['predicted_ms']['p50']:.2f} / {r['predicted_ms']['p99']:.2f}",
            f"{r['measured_ms']['p50']:.2f} / {r['measured_ms']['p99']:.2f}",
        )
    Console(width=max(Console().width, 120)).print(table)  # (not cut to 80 columns in a log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="ONNX model folders (router.json + .onnx file)")
    parser.add_argument("--data", default=None, help="data file (default: the one router.json names)")
    parser.add_argument("--split", default="test", help="whose texts to count and time (default test)")
    parser.add_argument(
        "--lengths", default="4,8,16,32,64", help="token counts to time (capped at max_length)"
    )
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per token count")
    parser.add_argument(
        "--profile-tokens",
        type=int,
        default=0,
        help="also record ONNX Runtime's per-operator profile at this many tokens (0: none)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    from llm_router.errors import RouterError
    from llm_router.eval.environment import describe_machine
    from llm_router.persistence import read_router_info
    from llm_router.utils.files import atomic_write_json

    try:
        lengths = [int(x) for x in args.lengths.split(",") if x.strip()]
        if not lengths or min(lengths) < 2:
            raise RouterError(f"--lengths needs token counts of at least 2 (got {args.lengths!r})")
        rows = []
        for folder in args.folders:
            source, info = read_router_info(folder)
            texts = split_texts(source, info, args.data, args.split)
            rows.append(
                measure(source, info, texts, lengths, args.threads, args.repeats, args.profile_tokens)
            )
    except (RouterError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    machine = describe_machine()
    print_table(rows, machine)
    if args.json:
        command = "python benchmarks/token_cost.py " + " ".join(argv if argv is not None else sys.argv[1:])
        out = {"machine": machine, "date": str(date.today()), "threads": args.threads, "command": command}
        atomic_write_json(args.json, out | {"split": args.split, "models": rows})
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
