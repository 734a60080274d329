"""Benchmark a router model: in-process latency/throughput and an open-loop HTTP load generator (`router bench`).

Names are imported lazily, so the load generator's own process starts with as little as it needs.
"""

from llm_router.utils.lazy import lazy_exports

_EXPORTS = {
    "HttpBenchConfig": "llm_router.bench.http",
    "ServerProcess": "llm_router.bench.http",
    "run_http_bench": "llm_router.bench.http",
    "step_passed": "llm_router.bench.http",
    "InprocessBenchConfig": "llm_router.bench.inprocess",
    "run_inprocess_bench": "llm_router.bench.inprocess",
    "LoadConfig": "llm_router.bench.loadgen",
    "check_loopback_url": "llm_router.bench.loadgen",
    "run_in_subprocess": "llm_router.bench.loadgen",
    "run_load": "llm_router.bench.loadgen",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
