"""An open-loop HTTP load generator that does not suffer from coordinated omission.

Request ``i`` is *scheduled* at ``t_i = t0 + i / rps`` (uniform) or at Poisson arrival times, and is sent at
``t_i`` whether or not earlier requests have been answered; its latency is ``completion - t_i``. A server that
stalls for 500 ms therefore shows every request scheduled during the stall as slow, as a real client would
see it, instead of the one slow request a closed-loop tool records (it would have stopped sending).

The client is a minimal HTTP/1.1 one: raw asyncio protocols over keep-alive connections (no pipelining: one
request per connection at a time), responses parsed by httptools, uvloop when installed. The pool starts with
``connections`` and grows whenever a request is due and every connection is busy (up to ``max_connections``;
past that, requests wait client-side, their waiting time counted in their latency). Latencies go into an HDR
histogram at microsecond resolution. Requests scheduled during ``warmup_s`` are sent but not recorded.

Run it in its own process (``python -m llm_router.bench.loadgen CONFIG.json``, or :func:`run_in_subprocess`)
so the server's event loop and the generator's never share a Python thread. Only loopback targets are allowed.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import ipaddress
import json
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from llm_router.errors import RouterError

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)
_HIST_MAX_US = 600_000_000  # 10 minutes, in microseconds


@dataclass
class LoadConfig:
    """One open-loop run: ``rps`` requests per second for ``duration_s`` seconds after ``warmup_s``."""

    url: str = "http://127.0.0.1:8000/route"
    rps: float = 100.0
    duration_s: float = 10.0
    warmup_s: float = 2.0
    arrival: str = "uniform"  # "uniform" (constant spacing) or "poisson"
    texts: list[str] = field(default_factory=lambda: ["which model should answer this question?"])
    connections: int = 0  # connections opened up front; 0 = sized for the rate
    max_connections: int = 1024
    timeout_s: float = 10.0
    seed: int = 0
    precise: bool | None = None  # busy-poll the event loop ~1 ms before each send; None = when rps <= 200
    # environment variable holding a bearer token, sent as "Authorization: Bearer ..." (the token itself is read
    # where the requests are built, so it is never written to a config or result file)
    api_key_env: str | None = None

    def __post_init__(self) -> None:
        if self.rps <= 0 or self.duration_s <= 0 or self.warmup_s < 0:
            raise RouterError("--rps and --duration must be positive, --warmup non-negative")
        if self.arrival not in ("uniform", "poisson"):
            raise RouterError(f"--arrival must be uniform or poisson, got {self.arrival!r}")
        if not self.texts:
            raise RouterError("no texts to send")
        if self.max_connections < 1 or self.connections < 0:
            raise RouterError("connection counts must be positive")
        check_loopback_url(self.url)

    def to_dict(self, with_texts: bool = False) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if not with_texts:
            d["texts"] = len(self.texts)
        return d


def check_loopback_url(url: str) -> tuple[str, int, str]:
    """``(host, port, path)`` of an http:// URL on this machine; any other host is refused."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise RouterError(f"only http:// URLs are supported, got {url!r}")
    host = parts.hostname or ""
    if host == "localhost":
        host = "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise RouterError(f"refusing to load-test {host or url!r}: only loopback targets are allowed")
    try:
        port = parts.port or 80
    except ValueError:
        raise RouterError(f"invalid port in {url!r}") from None
    path = parts.path or "/route"
    if parts.query:
        path += "?" + parts.query
    return host, port, path


def _request_bytes(host: str, port: int, path: str, text: str, token: str | None = None) -> bytes:
    body = json.dumps({"text": text}, ensure_ascii=False).encode("utf-8")
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n{auth}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("ascii")
    return head + body


def _new_histogram():
    from hdrh.histogram import HdrHistogram

    return HdrHistogram(1, _HIST_MAX_US, 3)


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying at most one request at a time."""

    __slots__ = ("gen", "transport", "parser", "busy", "scheduled", "sent", "measured", "closed")

    def __init__(self, gen: _Generator):
        import httptools

        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.busy = False
        self.scheduled = 0.0
        self.sent = 0.0
        self.measured = False
        self.closed = False

    # asyncio callbacks
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception:  # malformed response
            self.gen.on_failure(self, "bad_response")

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.gen.on_lost(self)

    # httptools callback
    def on_message_complete(self) -> None:
        self.gen.on_response(self, self.parser.get_status_code(), self.parser.should_keep_alive())

    def send(self, payload: bytes, scheduled: float, measured: bool) -> None:
        self.busy = True
        self.scheduled = scheduled
        self.measured = measured
        self.sent = time.perf_counter()
        self.transport.write(payload)


class _Generator:
    def __init__(self, config: LoadConfig):
        self.config = config
        self.host, self.port, self.path = check_loopback_url(config.url)
        rng = random.Random(config.seed)
        texts = list(config.texts)
        rng.shuffle(texts)
        token = None
        if config.api_key_env:
            from llm_router.serve.auth import read_token

            token = read_token(config.api_key_env)
        self.payloads = [_request_bytes(self.host, self.port, self.path, t, token) for t in texts]
        self.rng = rng
        self.idle: deque[_Connection] = deque()  # FIFO: every connection stays warm
        self.busy: set[_Connection] = set()
        self.waiting: deque[tuple[float, bool, bytes]] = deque()  # requests due with no free connection
        self.opening = 0
        self.latency = _new_histogram()  # successful (2xx) responses, microseconds
        self.send_lag = _new_histogram()  # send time - scheduled time, microseconds
        self.errors: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.sent_measured = 0
        self.done_measured = 0
        self.ok_measured = 0
        self.last_done = 0.0
        self.measure_start = 0.0
        self.pending_measured = 0
        self.connections_opened = 0
        self.connect_errors = 0

    # ------------------------------------------------------------------------------------ recording
    def _record(self, scheduled: float, measured: bool, outcome: int | str, now: float) -> None:
        if not measured:
            return
        self.pending_measured -= 1
        self.done_measured += 1
        self.last_done = now
        if isinstance(outcome, int):
            self.statuses[outcome] += 1
            if 200 <= outcome < 300:
                self.ok_measured += 1
                self.latency.record_value(max(1, int((now - scheduled) * 1e6)))
                return
            self.errors[str(outcome)] += 1
        else:
            self.errors[outcome] += 1

    # --------------------------------------------------------------------------------- connections
    def on_response(self, conn: _Connection, status: int, keep_alive: bool) -> None:
        now = time.perf_counter()
        if not conn.busy:
            return
        conn.busy = False
        self.busy.discard(conn)
        self._record(conn.scheduled, conn.measured, status, now)
        if not keep_alive:
            conn.closed = True
            conn.transport.close()
            self._open_more()
            return
        self._release(conn)

    def on_failure(self, conn: _Connection, kind: str) -> None:
        if conn.busy:
            conn.busy = False
            self.busy.discard(conn)
            self._record(conn.scheduled, conn.measured, kind, time.perf_counter())
        conn.closed = True
        if conn.transport is not None:
            conn.transport.abort()

    def on_lost(self, conn: _Connection) -> None:
        if conn.busy:
            self.on_failure(conn, "connection_closed")
        self.busy.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        self._open_more()

    def _release(self, conn: _Connection) -> None:
        if self.waiting:
            scheduled, measured, payload = self.waiting.popleft()
            self._send(conn, payload, scheduled, measured)
        else:
            self.idle.append(conn)

    def _send(self, conn: _Connection, payload: bytes, scheduled: float, measured: bool) -> None:
        conn.send(payload, scheduled, measured)
        self.busy.add(conn)
        if measured:
            self.send_lag.record_value(max(1, int((conn.sent - scheduled) * 1e6)))

    def _open_more(self) -> None:
        total = len(self.idle) + len(self.busy) + self.opening
        need = len(self.waiting) - self.opening
        while need > 0 and total < self.config.max_connections:
            self.opening += 1
            total += 1
            need -= 1
            asyncio.get_running_loop().create_task(self._open())

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: _Connection(self), self.host, self.port)
        except OSError:
            self.opening -= 1
            self.connect_errors += 1
            # fail the oldest waiting request rather than retrying forever against a dead server
            if self.waiting:
                scheduled, measured, _ = self.waiting.popleft()
                self._record(scheduled, measured, "connect_error", time.perf_counter())
            return
        self.opening -= 1
        self.connections_opened += 1
        self._release(conn)

    # ------------------------------------------------------------------------------------- schedule
    def fire(self, scheduled: float, measured: bool) -> None:
        payload = self.payloads[self._next_payload()]
        if measured:
            self.sent_measured += 1
            self.pending_measured += 1
        while self.idle:
            conn = self.idle.popleft()
            if not conn.closed:
                self._send(conn, payload, scheduled, measured)
                return
        self.waiting.append((scheduled, measured, payload))
        self._open_more()

    _payload_index = 0

    def _next_payload(self) -> int:
        i = self._payload_index
        self._payload_index = (i + 1) % len(self.payloads)
        return i

    def _sweep_timeouts(self, now: float) -> None:
        limit = self.config.timeout_s
        for conn in [c for c in self.busy if now - c.scheduled > limit]:
            self.on_failure(conn, "timeout")
        while self.waiting and now - self.waiting[0][0] > limit:
            scheduled, measured, _ = self.waiting.popleft()
            self._record(scheduled, measured, "timeout", now)

    async def run(self) -> dict[str, Any]:
        cfg = self.config
        loop = asyncio.get_running_loop()
        n0 = cfg.connections or max(2, min(64, math.ceil(cfg.rps * 0.005)))
        n0 = min(n0, cfg.max_connections)
        opened = await asyncio.gather(
            *(loop.create_connection(lambda: _Connection(self), self.host, self.port) for _ in range(n0)),
            return_exceptions=True,
        )
        failures = [r for r in opened if isinstance(r, BaseException)]
        if len(failures) == n0:
            raise RouterError(f"cannot connect to {self.host}:{self.port}: {failures[0]}")
        for result in opened:
            if not isinstance(result, BaseException):
                self.idle.append(result[1])
                self.connections_opened += 1

        precise = cfg.precise if cfg.precise is not None else cfg.rps <= 200
        interval = 1.0 / cfg.rps
        poisson = cfg.arrival == "poisson"
        rng = self.rng
        cpu0 = time.process_time()
        t0 = time.perf_counter() + 0.01
        self.measure_start = measure_start = t0 + cfg.warmup_s
        end = measure_start + cfg.duration_s
        # uniform: request i at t0 + i / rps exactly (by index, so no drift and exactly rps * duration measured
        # requests); poisson: exponential gaps, measured when scheduled inside the window
        n_warm = round(cfg.warmup_s * cfg.rps)
        n_total = n_warm + round(cfg.duration_s * cfg.rps)
        i = 0
        next_t = t0
        last_sweep = t0
        sleep = asyncio.sleep
        perf = time.perf_counter
        while next_t < end:
            now = perf()
            while next_t <= now and next_t < end:
                if poisson:
                    self.fire(next_t, next_t >= measure_start)
                    next_t += rng.expovariate(cfg.rps)
                else:
                    self.fire(next_t, i >= n_warm)
                    i += 1
                    next_t = t0 + i * interval if i < n_total else end
            if now - last_sweep > 0.1:
                self._sweep_timeouts(now)
                last_sweep = now
            delay = next_t - perf()
            if not precise:
                # event-loop timers have 1 ms granularity: sleep at least that long (never send early; the
                # lateness is recorded as send lag and included in the latency, so it is never hidden)
                await sleep(max(delay, 0.001) if delay > 0 else 0)
            elif delay > 0.0015:
                await sleep(delay - 0.0012)
            else:
                await sleep(0)  # busy-poll the loop: responses keep being processed while we wait
        send_end = perf()
        # Drain: wait for every measured request to finish or time out.
        while self.pending_measured > 0:
            now = perf()
            if now - send_end > cfg.timeout_s + 1.0:
                break
            self._sweep_timeouts(now)
            await sleep(0.005)
        wall = perf() - t0
        cpu = time.process_time() - cpu0
        for conn in list(self.idle) + list(self.busy):
            if conn.transport is not None:
                conn.transport.close()
        lost = max(0, self.pending_measured)
        if lost:
            self.errors["unfinished"] += lost
        return self._result(measure_start, end, send_end, wall, cpu)

    def _result(self, measure_start: float, end: float, send_end: float, wall: float, cpu: float) -> dict:
        cfg = self.config
        lat, lag = self.latency, self.send_lag
        span = max(self.last_done, end) - measure_start if self.done_measured else cfg.duration_s

        def ms(value_us: float) -> float:
            return round(value_us / 1000.0, 3)

        ok = self.ok_measured
        result: dict[str, Any] = {
            "target_rps": cfg.rps,
            "sent": self.sent_measured,
            "ok": ok,
            "sent_rps": round(self.sent_measured / cfg.duration_s, 2),
            "achieved_rps": round(ok / span, 2) if span > 0 else 0.0,
            "errors": sum(self.errors.values()),
            "errors_by_type": dict(sorted(self.errors.items())),
            "status_counts": {str(k): v for k, v in sorted(self.statuses.items())},
        }
        for p in PERCENTILES:
            key = f"p{p:g}".replace(".", "") + "_ms"
            result[key] = ms(lat.get_value_at_percentile(p)) if ok else None
        result["max_ms"] = ms(lat.get_max_value()) if ok else None
        result["min_ms"] = ms(lat.get_min_value()) if ok else None
        result["mean_ms"] = round(lat.get_mean_value() / 1000.0, 3) if ok else None
        result["send_lag_p50_ms"] = ms(lag.get_value_at_percentile(50)) if lag.get_total_count() else None
        result["send_lag_p99_ms"] = ms(lag.get_value_at_percentile(99)) if lag.get_total_count() else None
        result["send_lag_max_ms"] = ms(lag.get_max_value()) if lag.get_total_count() else None
        result["connections"] = self.connections_opened
        result["client_cpu_s"] = round(cpu, 3)
        result["client_cpu_pct"] = round(100.0 * cpu / wall, 1) if wall > 0 else None
        result["wall_s"] = round(wall, 3)
        result["hdr_latency_us"] = base64.b64encode(lat.encode()).decode("ascii") if ok else None
        result["config"] = cfg.to_dict()
        return result


def _event_loop_factory():
    try:
        import uvloop

        return uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        return None


def run_load(config: LoadConfig) -> dict[str, Any]:
    """Run one open-loop load test in this process (blocking) and return its result dict.

    Keys: ``achieved_rps``, ``sent_rps``, ``p50_ms``, ``p90_ms``, ``p95_ms``, ``p99_ms``, ``p999_ms``,
    ``max_ms``, ``errors`` (total), ``errors_by_type``, ``status_counts``, ``send_lag_*`` (how late the
    generator itself sent), ``client_cpu_pct``, ``config``.
    """
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        return runner.run(_Generator(config).run())


def run_in_subprocess(config: LoadConfig, timeout_s: float | None = None) -> dict[str, Any]:
    """:func:`run_load` in a fresh Python process (its own interpreter and event loop)."""
    with tempfile.TemporaryDirectory(prefix="router-loadgen-") as tmp:
        cfg_path = Path(tmp) / "config.json"
        out_path = Path(tmp) / "result.json"
        cfg_path.write_text(json.dumps(config.to_dict(with_texts=True)), encoding="utf-8")
        limit = timeout_s or (config.warmup_s + config.duration_s + config.timeout_s + 60)
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        proc = subprocess.run(
            [sys.executable, "-m", "llm_router.bench.loadgen", str(cfg_path), str(out_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=limit,
        )
        if proc.returncode != 0 or not out_path.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise RouterError("load generator failed: " + " | ".join(tail))
        return json.loads(out_path.read_text(encoding="utf-8"))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    """``python -m llm_router.bench.loadgen CONFIG.json [RESULT.json]``: run one load test from a JSON config."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print("usage: python -m llm_router.bench.loadgen CONFIG.json [RESULT.json]", file=sys.stderr)
        return 2
    try:
        config = LoadConfig(**json.loads(Path(argv[0]).read_text(encoding="utf-8")))
        result = run_load(config)
    except RouterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2)
    if len(argv) > 1:
        Path(argv[1]).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
