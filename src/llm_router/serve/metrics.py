"""A few Prometheus metrics in the text exposition format (0.0.4), without a client library.

Everything here is updated on the event loop thread, so plain ints and lists are enough.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Sequence

LATENCY_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _fmt(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class Histogram:
    """Cumulative-bucket histogram (Prometheus semantics: ``le`` buckets, ``_sum`` and ``_count``)."""

    def __init__(self, buckets: Sequence[float]):
        self.buckets = tuple(sorted(buckets))
        self.counts = [0] * (len(self.buckets) + 1)  # last slot: +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        out, cumulative = [], 0
        for bound, n in zip((*self.buckets, float("inf")), self.counts, strict=True):
            cumulative += n
            out.append(f'{name}_bucket{{{labels}{sep}le="{_fmt(bound)}"}} {cumulative}')
        suffix = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{suffix} {self.sum!r}")
        out.append(f"{name}_count{suffix} {self.count}")
        return out


class ServerMetrics:
    """Requests by endpoint and status, request latency, batch size, inference time, queue depth."""

    ENDPOINTS = ("/route", "/route/batch", "/health", "/ready", "/metrics")

    def __init__(self) -> None:
        self.started = time.time()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.batch_size = Histogram(BATCH_BUCKETS)
        self.inference_seconds = Histogram(LATENCY_BUCKETS_S)
        self.rejected: dict[str, int] = defaultdict(int)  # reason -> count (queue_full, deadline, ...)
        self.decisions: dict[tuple[str, str], int] = defaultdict(int)  # (route, policy rule) -> count
        self.queue_depth: Callable[[], int] = lambda: 0
        self.in_flight: Callable[[], int] = lambda: 0
        # a cascade's (texts answered per level, texts routed degraded); None for other models
        self.cascade_counts: Callable[[], tuple[dict[str, int], int]] | None = None

    def endpoint(self, path: str) -> str:
        return path if path in self.ENDPOINTS else "other"

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        endpoint = self.endpoint(path)
        self.requests[(endpoint, status)] += 1
        if endpoint.startswith("/route"):
            hist = self.latency.get(endpoint)
            if hist is None:
                hist = self.latency[endpoint] = Histogram(LATENCY_BUCKETS_S)
            hist.observe(seconds)

    def observe_batch(self, size: int, queue_depth: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.inference_seconds.observe(seconds)

    def render(self) -> str:
        lines = [
            "# HELP router_requests_total HTTP requests by endpoint and status code.",
            "# TYPE router_requests_total counter",
        ]
        for (endpoint, status), n in sorted(self.requests.items()):
            lines.append(f'router_requests_total{{endpoint="{endpoint}",status="{status}"}} {n}')
        lines += [
            "# HELP router_request_latency_seconds Time from request arrival to response, by endpoint.",
            "# TYPE router_request_latency_seconds histogram",
        ]
        for endpoint, hist in sorted(self.latency.items()):
            lines += hist.lines("router_request_latency_seconds", f'endpoint="{endpoint}"')
        lines += [
            "# HELP router_batch_size Texts per model inference.",
            "# TYPE router_batch_size histogram",
            *self.batch_size.lines("router_batch_size"),
            "# HELP router_inference_seconds Wall time of one model inference.",
            "# TYPE router_inference_seconds histogram",
            *self.inference_seconds.lines("router_inference_seconds"),
            "# HELP router_rejected_total Requests refused before inference, by reason.",
            "# TYPE router_rejected_total counter",
        ]
        for reason, n in sorted(self.rejected.items()):
            lines.append(f'router_rejected_total{{reason="{reason}"}} {n}')
        lines += [
            "# HELP router_decisions_total Routing decisions by route and by the policy rule that decided.",
            "# TYPE router_decisions_total counter",
        ]
        for (route, rule), n in sorted(self.decisions.items()):
            lines.append(f'router_decisions_total{{route="{route}",policy="{rule}"}} {n}')
        if self.cascade_counts is not None:
            answered, degraded = self.cascade_counts()
            lines += [
                "# HELP router_cascade_answered_total Texts answered by each level of the served cascade.",
                "# TYPE router_cascade_answered_total counter",
                *(f'router_cascade_answered_total{{level="{name}"}} {n}' for name, n in answered.items()),
                "# HELP router_brownout_texts_total Texts routed without the cascade's most expensive level(s) "
                "under overload (--brownout-ms).",
                "# TYPE router_brownout_texts_total counter",
                f"router_brownout_texts_total {degraded}",
            ]
        lines += [
            "# HELP router_queue_depth Texts waiting for inference.",
            "# TYPE router_queue_depth gauge",
            f"router_queue_depth {self.queue_depth()}",
            "# HELP router_in_flight Texts inside a running inference.",
            "# TYPE router_in_flight gauge",
            f"router_in_flight {self.in_flight()}",
            "# HELP router_uptime_seconds Seconds since the server started.",
            "# TYPE router_uptime_seconds gauge",
            f"router_uptime_seconds {time.time() - self.started:.3f}",
        ]
        return "\n".join(lines) + "\n"
