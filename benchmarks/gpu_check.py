"""GPU check: time the router's real architectures on a CUDA GPU, in process and over HTTP, in a few minutes.

Built for a bare GPU machine with torch (CUDA) and transformers (4.x or 5.x) but no FastAPI, no model weights and no
internet; it imports nothing from ``llm_router``. Models are random-initialised from configs built here (weights do
not change the cost of a forward pass):

- teacher: multilingual-e5-small shape = BertModel, 12 layers, hidden 384, 12 heads, intermediate 1536, vocab
  250,037, with a 3-route classification head;
- student: the same with 4 layers and a pruned vocabulary of 30,000 tokens (what ``router distill layers:4`` keeps).

In process (``inprocess``): every model x dtype (fp32, fp16, bf16) x batch (1, 32) at one sequence length, eager
and replayed as a CUDA graph (``torch.cuda.CUDAGraph``; ``--compile`` adds ``torch.compile(mode="reduce-overhead")``
for the student). Each call copies its token ids from host memory and its logits back, as serving does. Reported:
p50 / p99 / mean ms per call and texts/s.

Over HTTP (``http``): a standard-library server (``http.server.ThreadingHTTPServer``, HTTP/1.1 keep-alive) on
127.0.0.1 that routes ``POST /route {"text": ...}`` with the student (fp16, CUDA graph at batch 1; a word-hash
tokenizer stands in for the real one), and an open-loop threaded client: request i is scheduled at ``t0 + i/rps``
and sent then whatever happened before; latency = completion - scheduled time (no coordinated omission).

    bash benchmarks/gpu_check.sh "$OUT"                    # on the GPU machine: writes $OUT/gpu_check.json
    python benchmarks/gpu_check.py --dry-run --out x.json   # tiny sizes on CPU (what the test runs)

One summary JSON is written (atomically). ``--budget-s`` stops starting new measurements when the budget is spent
(the rest is listed under ``skipped``), so the whole check stays under 8 minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import http.server
import json
import os
import platform
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROUTES = ["Claude", "gemini-mini", "gpt-o1"]
REAL = {
    "teacher": {"layers": 12, "vocab": 250037, "hidden": 384, "heads": 12, "intermediate": 1536},
    "student": {"layers": 4, "vocab": 30000, "hidden": 384, "heads": 12, "intermediate": 1536},
}
TINY = {
    "teacher": {"layers": 2, "vocab": 1000, "hidden": 32, "heads": 2, "intermediate": 64},
    "student": {"layers": 1, "vocab": 500, "hidden": 32, "heads": 2, "intermediate": 64},
}
QUERIES = [
    "write me a haiku about autumn leaves",
    "solve 3x + 7 = 22 for x and explain each step",
    "hi",
    "translate good morning into japanese",
    "debug this python function that merges two sorted lists",
    "what is the weather in paris today",
    "draft a polite email to my landlord about a broken heater",
    "prove that the square root of two is irrational",
]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(seconds: list[float]) -> dict:
    ms = [1e3 * s for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 4),
        "p99_ms": round(percentile(ms, 99), 4),
        "mean_ms": round(statistics.fmean(ms), 4) if ms else None,
        "max_ms": round(max(ms), 4) if ms else None,
    }


def build_model(shape: dict, device: str, dtype, attn: str):
    """A random-initialised BertForSequenceClassification of ``shape`` on ``device`` in ``dtype``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=shape["vocab"],
        hidden_size=shape["hidden"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        intermediate_size=shape["intermediate"],
        max_position_embeddings=514,
        num_labels=len(ROUTES),
        attn_implementation=attn,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = BertForSequenceClassification(config)
    return model.eval().to(dtype)


class Runner:
    """One model at one (batch, seq) shape: eager, or replayed from a CUDA graph with static input buffers."""

    def __init__(self, model, batch: int, seq: int, device: str, graph: bool, mask: bool = True):
        import torch

        self.torch, self.model, self.device = torch, model, device
        self.ids = torch.ones((batch, seq), dtype=torch.long, device=device)
        # mask=False: no attention mask at all (batch 1 needs no padding), for a transformers whose mask path
        # cannot be captured in a CUDA graph
        self.mask = torch.ones((batch, seq), dtype=torch.long, device=device) if mask else None
        self.graph = None
        self.host = torch.ones((batch, seq), dtype=torch.long)
        if device == "cuda":
            self.host = self.host.pin_memory()
        if graph:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.inference_mode(), torch.cuda.stream(side):
                for _ in range(3):
                    model(input_ids=self.ids, attention_mask=self.mask)
            torch.cuda.current_stream().wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with torch.inference_mode(), torch.cuda.graph(self.graph):
                self.out = model(input_ids=self.ids, attention_mask=self.mask).logits

    def __call__(self, ids=None):
        torch = self.torch
        with torch.inference_mode():
            self.ids.copy_(ids if ids is not None else self.host, non_blocking=True)
            if self.graph is not None:
                self.graph.replay()
                logits = self.out
            else:
                logits = self.model(input_ids=self.ids, attention_mask=self.mask).logits
            return logits.float().cpu()  # the copy back synchronises


def make_runner(model, batch: int, seq: int, device: str, graph: bool, row: dict) -> Runner:
    """A :class:`Runner`; when capturing with an attention mask fails (a transformers whose mask code syncs with
    the host), capture without one - the timed inputs have no padding, so the work is the same but the mask add -
    and record ``mask: none`` in ``row``."""
    try:
        return Runner(model, batch, seq, device, graph)
    except Exception as exc:
        if not graph:
            raise
        import torch

        torch.cuda.synchronize()
        row["mask"] = "none"
        row["capture_with_mask_error"] = f"{type(exc).__name__}: {str(exc)[:160]}"
        return Runner(model, batch, seq, device, graph, mask=False)


def measure_row(row: dict, prepare, calls: int) -> dict:
    """Fill ``row`` (with its ``batch``) with the timings of the callable ``prepare()`` returns: ``calls`` timed
    calls at batch 1, a quarter at larger batches. A mode this torch / transformers cannot run is recorded as
    ``error``, not fatal."""
    batch = row["batch"]
    try:
        fn = prepare()
        times = time_calls(fn, calls if batch == 1 else max(10, calls // 4), 5)
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        return row
    row.update(summary_ms(times))
    row["texts_per_s"] = round(batch / statistics.fmean(times), 1)
    return row


def time_calls(fn, calls: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def inprocess(args, device: str, shapes: dict, deadline: float, skipped: list) -> list[dict]:
    import torch

    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if device == "cpu":
        dtypes.pop("fp16")  # fp16 matmuls on CPU are neither supported everywhere nor meaningful here
    rows = []
    for name, shape in shapes.items():
        for dtype_name, dtype in dtypes.items():
            modes = ["eager", "cuda_graph"] if device == "cuda" else ["eager"]
            if time.monotonic() > deadline:
                skipped.append(f"inprocess {name} {dtype_name}: time budget spent")
                continue
            # CUDA graphs need a mask path without host syncs: eager attention is capturable everywhere
            model = build_model(shape, device, dtype, "eager" if device == "cuda" else "sdpa")
            for batch in (1, 32):
                for mode in modes:
                    row = {"model": name, "dtype": dtype_name, "batch": batch, "seq": args.seq, "mode": mode}
                    prepare = functools.partial(
                        make_runner, model, batch, args.seq, device, mode == "cuda_graph", row
                    )
                    rows.append(measure_row(row, prepare, args.calls))
            if args.compile and device == "cuda" and name == "student" and dtype_name == "fp16":
                rows.extend(compiled_rows(args, model, shape, deadline, skipped))
            del model
            if device == "cuda":
                torch.cuda.empty_cache()
    return rows


def compiled_rows(args, model, shape, deadline, skipped) -> list[dict]:
    import torch

    rows = []
    compiled = torch.compile(model, mode="reduce-overhead", dynamic=False)
    for batch in (1, 32):
        if time.monotonic() > deadline:
            skipped.append(f"torch.compile student batch {batch}: time budget spent")
            continue
        row = {
            "model": "student",
            "dtype": "fp16",
            "batch": batch,
            "seq": args.seq,
            "mode": "compile_reduce_overhead",
        }
        ids = torch.ones((batch, args.seq), dtype=torch.long, device="cuda")
        mask = torch.ones_like(ids)
        host = torch.ones((batch, args.seq), dtype=torch.long).pin_memory()

        def call(ids=ids, mask=mask, host=host):
            with torch.inference_mode():
                torch.compiler.cudagraph_mark_step_begin()
                ids.copy_(host, non_blocking=True)
                return compiled(input_ids=ids, attention_mask=mask).logits.float().cpu()

        def prepare(call=call, row=row):
            start = time.perf_counter()
            call()  # compiles
            row["compile_s"] = round(time.perf_counter() - start, 2)
            return call

        rows.append(measure_row(row, prepare, args.calls))
    return rows


# ------------------------------------------------------------------------------------------------ HTTP check
def hash_tokens(text: str, vocab: int, seq: int) -> list[int]:
    """A stand-in tokenizer (no tokenizer files offline): CLS, one id per word by a stable hash, SEP, padded."""
    import zlib

    ids = [101] + [1000 + zlib.crc32(w.encode()) % (vocab - 1000) for w in text.split()][: seq - 2] + [102]
    return ids + [0] * (seq - len(ids))


def run_client(port: int, rps: float, warmup_s: float, seconds: float, threads: int) -> dict:
    """Open-loop load on ``127.0.0.1:port`` from a thread pool: a warm-up, then the measured window."""
    local = threading.local()

    def send(text: str) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("POST", "/route", json.dumps({"text": text}), {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")
        except Exception:
            local.conn = None
            conn.close()
            raise

    def open_loop(seconds: float) -> dict:
        n = int(rps * seconds)
        latencies, errors = [], {}
        results_lock = threading.Lock()

        def one(i: int, scheduled: float) -> None:
            try:
                send(QUERIES[i % len(QUERIES)] + f" #{i}")
                done = time.perf_counter()
                with results_lock:
                    latencies.append(done - scheduled)
            except Exception as exc:
                with results_lock:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

        start = time.perf_counter() + 0.05
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for i in range(n):
                scheduled = start + i / rps
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(one, i, scheduled)
        elapsed = time.perf_counter() - start
        out = {"rps_target": rps, "seconds": seconds, "requests": n, "ok": len(latencies), "errors": errors}
        out["achieved_rps"] = round(len(latencies) / elapsed, 1) if elapsed > 0 else None
        out.update(summary_ms(latencies))
        out["p95_ms"] = round(1e3 * percentile(latencies, 95), 4)
        return out

    open_loop(warmup_s)
    return open_loop(seconds)


def http_check(args, device: str, shape: dict) -> dict:
    import torch

    dtype = torch.float16 if device == "cuda" else torch.float32
    model = build_model(shape, device, dtype, "eager" if device == "cuda" else "sdpa")
    runner = make_runner(model, 1, args.seq, device, device == "cuda", {})
    lock = threading.Lock()
    vocab = shape["vocab"] if shape["vocab"] > 1100 else 1100

    def route(text: str) -> dict:
        ids = torch.tensor([hash_tokens(text, vocab, args.seq)], dtype=torch.long) % shape["vocab"]
        with lock:
            logits = runner(ids.to(device, non_blocking=True) if device == "cuda" else ids)
        probs = torch.softmax(logits[0], dim=-1).tolist()
        best = max(range(len(ROUTES)), key=probs.__getitem__)
        return {"route": ROUTES[best], "confidence": probs[best]}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 - http.server API
            length = int(self.headers.get("Content-Length") or 0)
            try:
                text = json.loads(self.rfile.read(length))["text"]
                body, status = json.dumps(route(str(text))).encode(), 200
            except Exception as exc:  # a bad request body: answered, not fatal
                body, status = json.dumps({"error": str(exc)[:100]}).encode(), 400
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):  # quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    import multiprocessing

    # The client runs in its own process, so its threads never compete with the server's for this one's GIL.
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            result = pool.apply(
                run_client, (port, args.rps, args.http_warmup_s, args.http_seconds, args.client_threads)
            )
    finally:
        server.shutdown()
        server.server_close()
    result.update(
        {
            "server": "http.server.ThreadingHTTPServer (HTTP/1.1 keep-alive), one inference per request",
            "model": f"student, {'fp16 CUDA graph' if device == 'cuda' else 'fp32 eager'}, batch 1, seq {args.seq}",
            "client": f"separate process, open loop, uniform arrivals, {args.client_threads} threads, latency from scheduled time",
            "slo_p99_ms": 5.0,
            "meets_p99_5ms": bool(
                result.get("p99_ms") is not None and result["p99_ms"] <= 5.0 and not result["errors"]
            ),
        }
    )
    return result


# ------------------------------------------------------------------------------------------------ main
def environment(device: str) -> dict:
    import torch
    import transformers

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda_available": torch.cuda.is_available(),
        "device": device,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(OSError):
        env["load_1m"] = round(os.getloadavg()[0], 2)
    if device == "cuda":
        env["gpu"] = torch.cuda.get_device_name(0)
        env["capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
        env["cuda"] = torch.version.cuda
    return env


def write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="summary JSON (default: $OUT/gpu_check.json, else ./gpu_check.json)")
    parser.add_argument("--dry-run", action="store_true", help="tiny models on the CPU (a quick self-test)")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--seq", type=int, default=32, help="tokens per text (demo queries: median ~20)")
    parser.add_argument(
        "--calls", type=int, default=300, help="timed batch-1 calls per row (batch 32: a quarter)"
    )
    parser.add_argument(
        "--compile", action="store_true", help="also torch.compile(mode='reduce-overhead') the student"
    )
    parser.add_argument("--rps", type=float, default=100.0)
    parser.add_argument("--http-seconds", type=float, default=30.0)
    parser.add_argument("--http-warmup-s", type=float, default=3.0)
    parser.add_argument("--client-threads", type=int, default=32)
    parser.add_argument("--budget-s", type=float, default=360.0, help="no new in-process rows after this")
    args = parser.parse_args(argv)
    out = Path(args.out or Path(os.environ.get("OUT", ".")) / "gpu_check.json")
    try:
        import torch
    except ImportError:
        print("error: torch is not installed", file=sys.stderr)
        return 2
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() and not args.dry_run else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA GPU", file=sys.stderr)
        return 2
    shapes = TINY if args.dry_run else REAL
    if args.dry_run:
        args.calls = min(args.calls, 10)
        args.http_seconds = min(args.http_seconds, 1.0)
        args.http_warmup_s = min(args.http_warmup_s, 0.3)
        args.rps = min(args.rps, 50.0)
    started = time.monotonic()
    deadline = started + args.budget_s
    skipped: list[str] = []
    result = {
        "what": "benchmarks/gpu_check.py: random-initialised router architectures, in process and over HTTP",
        "dry_run": args.dry_run,
        "shapes": shapes,
        "environment": environment(device),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
    }
    result["inprocess"] = inprocess(args, device, shapes, deadline, skipped)
    write_json_atomic(out, {**result, "partial": True})  # keep what was measured if the HTTP part dies
    try:
        result["http"] = http_check(args, device, shapes["student"])
    except Exception as exc:  # recorded in the summary rather than lost
        result["http"] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    result["skipped"] = skipped
    result["wall_s"] = round(time.monotonic() - started, 1)
    write_json_atomic(out, result)
    for row in result["inprocess"]:
        took = (
            row.get("error")
            or f"p50 {row['p50_ms']:.3f} ms  p99 {row['p99_ms']:.3f} ms  {row['texts_per_s']:.0f}/s"
        )
        print(f"{row['model']:>8} {row['dtype']:>5} b{row['batch']:<3} {row['mode']:<24} {took}")
    h = result["http"]
    if "error" in h:
        print(f"http: {h['error']}")
    else:
        print(
            f"http {h['rps_target']:g} req/s: p50 {h['p50_ms']} p95 {h['p95_ms']} p99 {h['p99_ms']} ms, errors {h['errors']}"
        )
    print(f"wrote {out} ({result['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
