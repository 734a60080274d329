"""Scale-out of `router serve`: plain uvicorn with 1 and 2 worker processes against Ray Serve with 1 and 2 replicas,
each at 100 requests/s and with --find-max (p99 <= 50 ms), in one run; then what Ray adds to p50/p99. The
``uvicorn-1-*`` configurations vary one serving knob of a single process (2 model threads, no micro-batching,
batches of at most 8, length-sorted sub-batches of 4).

    python benchmarks/scale_out.py --json docs/results/scale_out.json
    python benchmarks/scale_out.py --configs uvicorn-1,uvicorn-2 --duration 10 --step-duration 5   # quicker

Every configuration is a real `router serve` child process (``bench.http.ServerProcess``) on a free loopback port,
the same model (``--model``, default: the fast pipeline's INT8 student, see ``scale_common``) and threads per
process; the open-loop load generator (``router bench``'s) runs in its own process on the same machine, so on a
2-core box client and servers share the cores: the load average is recorded with the results.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale_common as common  # noqa: E402

sys.path.insert(0, str(common.ROOT / "src"))

CONFIGS = {
    "uvicorn-1": {"workers": 1, "args": []},
    "uvicorn-2": {"workers": 2, "args": []},
    "ray-1": {"workers": 1, "args": ["--engine", "ray", "--replicas", "1"]},
    "ray-2": {"workers": 1, "args": ["--engine", "ray", "--replicas", "2"]},
    # serving knobs of one process (issue 13): threads, micro-batching off, smaller batches, sorted sub-batches
    "uvicorn-1-t2": {"workers": 1, "args": [], "serve": {"threads": 2}},
    "uvicorn-1-nobatch": {"workers": 1, "args": [], "serve": {"batching": False}},
    "uvicorn-1-batch8": {"workers": 1, "args": [], "serve": {"max_batch": 8}},
    "uvicorn-1-sub4": {"workers": 1, "args": [], "serve": {"infer_batch_size": 4}},
}


def measure(name: str, model: str, args: argparse.Namespace, say) -> dict:
    from llm_router.bench.http import HttpBenchConfig, ServerProcess, run_http_bench, wait_idle
    from llm_router.serve.config import ServeConfig

    spec = CONFIGS[name]
    data, text_col = common.request_texts()
    serve = ServeConfig(**{"threads": args.threads, "workers": spec["workers"], **spec.get("serve", {})})
    out: dict = {"config": name, "where_start": common.where()}
    say(
        f"[{name}] starting router serve {' '.join(spec['args']) or '(uvicorn)'} --workers {spec['workers']} ..."
    )
    with ServerProcess(model, serve, extra_args=spec["args"], ready_timeout_s=600) as server:
        target = {"url": server.base_url, "data": data, "text_col": text_col, "slo_ms": args.slo_ms}
        cpu0 = server.cpu_seconds()
        fixed = run_http_bench(
            HttpBenchConfig(rps=args.rps, duration_s=args.duration, warmup_s=args.warmup, **target), say
        )
        cpu1 = server.cpu_seconds()
        if cpu0 is not None and cpu1 is not None:
            fixed["server_cpu_pct"] = round(100.0 * (cpu1 - cpu0) / fixed["wall_s"], 1)
        out["fixed"] = {k: fixed.get(k) for k in ("target_rps", "achieved_rps", "p50_ms", "p90_ms", "p95_ms",
                                                  "p99_ms", "p999_ms", "max_ms", "errors", "errors_by_type",
                                                  "server_cpu_pct", "client_cpu_pct")}  # fmt: skip
        if args.find_max:
            wait_idle(server.base_url, settle_s=1.0)  # the search starts on an idle server
            found = run_http_bench(
                HttpBenchConfig(
                    find_max=True, start_rps=args.start_rps, step_duration_s=args.step_duration, **target
                ),
                say,
            )
            out["find_max"] = {k: found.get(k) for k in ("max_rps", "first_failing_rps", "p50_ms", "p99_ms",
                                                         "steps")}  # fmt: skip
    out["where_end"] = common.where()
    return out


def ms(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def diff(a, b) -> str:
    return "-" if a is None or b is None else f"{a - b:+.2f}"


def print_results(results: list[dict], meta: dict, console: Console) -> Table | None:
    """Print the results table; return the Ray-overhead table (None without a ray-N/uvicorn-N pair)."""
    table = Table(
        title=f"router serve scale-out: {meta['model']} ({meta['threads']} thread(s) per process)",
        caption=f"load average at start {meta['where']['loadavg']} on {meta['where']['cpus']} cores, "
        f"{meta['where']['utc']}; SLO p99 <= {meta['slo_ms']:g} ms",
    )
    for col in ("config", "achieved/s", "p50 ms", "p95 ms", "p99 ms", "errors", "server CPU %", "max req/s",
                "p99 at max", "loadavg"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in results:
        f, m = r["fixed"], r.get("find_max") or {}
        table.add_row(r["config"], f"{f['achieved_rps']:g}", ms(f["p50_ms"]), ms(f["p95_ms"]), ms(f["p99_ms"]),
                      str(f["errors"]), str(f.get("server_cpu_pct") or "-"), str(m.get("max_rps") or "-"),
                      ms(m.get("p99_ms")), f"{r['where_start']['loadavg'][0]:.2f}")  # fmt: skip
    console.print(table)
    by = {r["config"]: r for r in results}
    over = Table(title=f"what Ray Serve adds (ray-N minus uvicorn-N at {meta['rps']:g} req/s)")
    for col in ("replicas", "p50 ms", "p99 ms", "max req/s"):
        over.add_column(col, justify="right")
    for n in (1, 2):
        ray, plain = by.get(f"ray-{n}"), by.get(f"uvicorn-{n}")
        if ray and plain:
            over.add_row(
                str(n),
                diff(ray["fixed"]["p50_ms"], plain["fixed"]["p50_ms"]),
                diff(ray["fixed"]["p99_ms"], plain["fixed"]["p99_ms"]),
                diff(
                    (ray.get("find_max") or {}).get("max_rps"), (plain.get("find_max") or {}).get("max_rps")
                ),
            )
    return over if over.row_count else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_args(parser, CONFIGS)
    parser.add_argument("--threads", type=int, default=1, help="model threads per server process")
    parser.add_argument("--rps", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds at --rps")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--no-find-max", dest="find_max", action="store_false")
    parser.add_argument("--start-rps", type=float, default=100.0)
    parser.add_argument("--step-duration", type=float, default=10.0)
    parser.add_argument("--slo-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    console = Console(width=160)
    configs = common.pick_configs(args.configs, CONFIGS)
    model = common.resolve_model(args.model)
    meta = {
        "model": model,
        "threads": args.threads,
        "rps": args.rps,
        "slo_ms": args.slo_ms,
        "where": common.where(),
    }

    def say(msg: str) -> None:
        console.print(f"[dim]{msg}[/]", highlight=False)

    results = [measure(name, model, args, say) for name in configs]
    overhead = print_results(results, meta, console)
    return common.finish(console, overhead, args.json, {"meta": meta, "results": results})


if __name__ == "__main__":
    common.run(main)
