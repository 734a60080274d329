"""`router bench --mode http`: open-loop load against `router serve`, at one rate or stepping up to the SLO.

With a model and no URL, the server runs as a separate process (``python -m llm_router.cli serve ...``) on a
free loopback port; the load generator is another process. Both share this machine's cores, which every
result records under ``environment``.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llm_router.bench.loadgen import LoadConfig, check_loopback_url, free_port, run_in_subprocess
from llm_router.errors import RouterError
from llm_router.serve.config import ServeConfig

_SRC = str(Path(__file__).resolve().parents[2])


def environment() -> dict[str, Any]:
    """Where a number was measured (``eval.environment``), plus the load average and the shared-cores note."""
    from llm_router.eval.environment import collect_environment, describe_machine

    env = collect_environment()
    env["machine"] = describe_machine(env)
    env["loadavg_1m"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    env["note"] = f"client and server on the same machine, sharing its {os.cpu_count()} cores"
    return env


def load_texts(
    data: str | Path | None = None,
    text_col: str = "text",
    limit: int = 5000,
    split_of: tuple[str | Path, str] | None = None,
) -> list[str]:
    """Request texts: the ``text_col`` column of ``data`` (default: the bundled demo set); with ``split_of =
    (model folder, part)`` only those whose hash is in that part of the folder's ``split.json``."""
    from llm_router.data.load import demo_data_path, read_table

    path = Path(data) if data else demo_data_path()
    df = read_table(path)
    if text_col not in df.columns:
        raise RouterError(f"{path}: no text column '{text_col}' (columns: {', '.join(map(str, df.columns))})")
    texts = [str(t).strip() for t in df[text_col].dropna().tolist() if str(t).strip()]
    if not texts:
        raise RouterError(f"no texts in {data or 'the demo set'}")
    if split_of is not None:
        texts = _texts_in_split(texts, *split_of, source=str(data or "the demo set"))
    return texts[:limit]


def check_split(split: str | None, model: str | None) -> None:
    """``--split`` names a part of a model folder's ``split.json``: one of its parts, and a real model folder."""
    from llm_router.persistence.split import PARTS

    if split is None:
        return
    if split not in PARTS:
        raise RouterError(f"--split must be {', '.join(PARTS[:-1])} or {PARTS[-1]}, got {split!r}")
    if model is None or model.startswith("fake"):
        raise RouterError("--split needs --model: a model folder with a split.json")


def request_texts(config: Any) -> list[str]:
    """The texts a benchmark config (HTTP or in-process: ``data``, ``text_col``, ``model``, ``split``) sends."""
    split_of = (config.model, config.split) if config.split else None
    return load_texts(config.data, config.text_col, split_of=split_of)


def _texts_in_split(texts: list[str], folder: str | Path, part: str, source: str) -> list[str]:
    from llm_router.persistence import read_split
    from llm_router.utils import text_hash

    split = read_split(folder)
    if not split or not split.get(part):
        raise RouterError(
            f"{folder}: no '{part}' part in a split.json (--split needs a trained model folder)"
        )
    keep = set(split[part])
    kept = [t for t in texts if text_hash(t) in keep]
    if not kept:
        raise RouterError(
            f"no text of {source} is in the '{part}' split of {folder}: give the data it was trained on"
        )
    return kept


class ServerProcess:
    """``router serve`` in a child process on a free loopback port; ``with ServerProcess(...) as srv: srv.url``."""

    def __init__(
        self,
        model: str,
        config: ServeConfig | None = None,
        *,
        ready_timeout_s: float = 600.0,
        log_path: str | Path | None = None,
        extra_args: list[str] | None = None,
    ):
        self.model = model
        self.extra_args = list(extra_args or [])  # more `router serve` options, e.g. ["--engine", "ray"]
        self.config = config or ServeConfig()
        self.ready_timeout_s = ready_timeout_s
        self.port = self.config.port if self.config.port not in (0, 8000) else free_port()
        self._log_path = Path(log_path) if log_path else None
        self._log_file = None
        self._own_log = False
        self.last_log_tail = ""
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cfg = self.config
        cmd = [
            sys.executable, "-m", "llm_router.cli", "serve",
            "--model", self.model,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--device", cfg.device,
            "--threads", str(cfg.threads),
            "--max-batch", str(cfg.max_batch),
            "--max-wait-ms", repr(cfg.max_wait_ms),
            "--max-queue", str(cfg.max_queue),
            "--timeout-ms", repr(cfg.timeout_ms),
        ]  # fmt: skip
        if cfg.infer_batch_size:
            cmd += ["--infer-batch-size", str(cfg.infer_batch_size)]
        if not cfg.batching:
            cmd.append("--no-batching")
        if not cfg.adaptive_wait:
            cmd.append("--no-adaptive-wait")
        if not cfg.admission:
            cmd.append("--no-admission")
        if cfg.workers > 1:
            cmd += ["--workers", str(cfg.workers)]
        cmd += ["--inference-workers", str(cfg.inference_workers)]
        if cfg.brownout_ms is not None:
            cmd += ["--brownout-ms", repr(cfg.brownout_ms)]
        if cfg.api_key_env:
            cmd += ["--api-key-env", cfg.api_key_env]
        return cmd + self.extra_args

    def start(self) -> ServerProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = _SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("HF_HUB_OFFLINE", "1")
        if self._log_path is None:
            fd, name = tempfile.mkstemp(prefix="router-serve-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
            self._own_log = True
        self._log_file = open(self._log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.command(), env=env, stdout=self._log_file, stderr=subprocess.STDOUT)
        self.wait_ready()
        return self

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self._log_path.read_text(encoding="utf-8", errors="replace") if self._log_path else ""
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def _ready_request(self) -> urllib.request.Request:
        """GET /ready, with the bearer token when the server requires one."""
        headers = {}
        if self.config.api_key_env:
            from llm_router.serve.auth import read_token

            headers["Authorization"] = f"Bearer {read_token(self.config.api_key_env)}"
        return urllib.request.Request(self.base_url + "/ready", headers=headers)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RouterError(f"router serve exited with code {self.proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self._ready_request(), timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RouterError(
            f"router serve was not ready within {self.ready_timeout_s:.0f} s: {self.log_tail()}"
        )

    def cpu_seconds(self) -> float | None:
        try:
            import psutil

            root = psutil.Process(self.proc.pid)
            total = 0.0
            for proc in [root, *root.children(recursive=True)]:  # --workers and Ray processes too
                try:
                    times = proc.cpu_times()
                except psutil.Error:
                    continue
                total += times.user + times.system
            return total
        except Exception:
            return None

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM (graceful drain), then SIGKILL after ``timeout_s``; returns the exit code. The log of a
        clean run is deleted (unless it was asked for by path); ``last_log_tail`` keeps its end."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
            self.last_log_tail = self.log_tail()
            if self._own_log and self.proc.returncode == 0 and self._log_path is not None:
                self._log_path.unlink(missing_ok=True)
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class HttpBenchConfig:
    """An HTTP benchmark: one rate (``rps`` for ``duration_s``), or ``find_max`` stepping up to the SLO."""

    model: str | None = None  # model folder or fake:DELAY_MS; started as a child server
    url: str | None = None  # an already running server (loopback only)
    rps: float = 100.0
    duration_s: float = 60.0
    warmup_s: float = 5.0
    arrival: str = "uniform"
    data: str | None = None
    text_col: str = "text"
    # only the texts of this part (train / val / test) of the model folder's split.json: held-out load for a
    # cascade, whose cheap levels answer more of the texts they were trained on
    split: str | None = None
    connections: int = 0
    timeout_s: float = 10.0
    endpoint: str = "/route"
    serve: ServeConfig = field(default_factory=ServeConfig)
    find_max: bool = False
    slo_ms: float = 50.0
    start_rps: float = 100.0
    max_rps: float = 20000.0
    step_factor: float = 2.0
    step_duration_s: float = 10.0
    step_warmup_s: float = 2.0
    refine_steps: int = 3
    step_pause_s: float = 1.0  # idle time between steps, after the server's queue has drained
    min_achieved_ratio: float = 0.95
    server_args: list[str] = field(default_factory=list)  # extra `router serve` options (--engine ray ...)
    # environment variable holding the bearer token: sent with every request; a started server requires it
    api_key_env: str | None = None

    def __post_init__(self) -> None:
        if (self.model is None) == (self.url is None):
            raise RouterError("give exactly one of --model (start a server) or --url (use a running one)")
        if self.url is not None:
            check_loopback_url(self.url)
        if self.arrival not in ("uniform", "poisson"):
            raise RouterError(f"--arrival must be uniform or poisson, got {self.arrival!r}")
        finite = all(
            math.isfinite(v)
            for v in (self.rps, self.duration_s, self.warmup_s, self.step_duration_s, self.start_rps)
            + (self.step_factor, self.slo_ms)
        )
        if not finite:  # NaN passes every comparison below
            raise RouterError(
                "--rps, --duration, --warmup, --step-duration, --start-rps, --step-factor and --slo-ms must be numbers"
            )
        if self.rps <= 0 or self.duration_s <= 0 or self.warmup_s < 0 or self.step_duration_s <= 0:
            raise RouterError("--rps, --duration and --step-duration must be positive, --warmup non-negative")
        if self.start_rps <= 0:
            raise RouterError("--start-rps must be positive")
        if self.step_factor <= 1.0:
            raise RouterError("--step-factor must be > 1")
        if self.slo_ms <= 0:
            raise RouterError("--slo-ms must be positive")
        check_split(self.split, self.model)
        if self.api_key_env:
            from llm_router.serve.auth import read_token

            read_token(self.api_key_env)  # a missing or weak token fails before any server starts
            if self.model is not None:
                self.serve.api_key_env = self.api_key_env

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["serve"] = self.serve.to_dict() if self.model else None
        return d


def _target_url(base_or_url: str, endpoint: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(base_or_url)
    return base_or_url if parts.path not in ("", "/") else base_or_url.rstrip("/") + endpoint


def read_metrics(base_url: str) -> str | None:
    """The server's ``/metrics`` text, or None when it cannot be read."""
    try:
        with urllib.request.urlopen(base_url + "/metrics", timeout=5) as resp:
            return resp.read().decode("utf-8", "replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None


def wait_idle(base_url: str, timeout_s: float = 30.0, settle_s: float = 0.5) -> bool:
    """Wait until the server's queue and in-flight gauges (``/metrics``) are 0, then ``settle_s`` more.
    Returns False if they did not drop in time or the server has no such metrics (then it just waited)."""
    import re

    deadline = time.monotonic() + timeout_s
    pattern = re.compile(r"^router_(queue_depth|in_flight) (\S+)$", re.MULTILINE)
    while time.monotonic() < deadline:
        text = read_metrics(base_url)
        if text is None:
            time.sleep(settle_s)
            return False
        gauges = [float(v) for _, v in pattern.findall(text)]
        if not gauges:
            time.sleep(settle_s)
            return False
        if sum(gauges) == 0:
            time.sleep(settle_s)
            return True
        time.sleep(0.1)
    return False


def cascade_counters(base_url: str) -> tuple[dict[str, int], int] | None:
    """A served cascade's texts answered per level and texts routed degraded (brownout), from ``/metrics``;
    None when the model is not a cascade or ``/metrics`` cannot be read."""
    import re

    text = read_metrics(base_url)
    if text is None:
        return None
    levels = {
        name: int(float(n))
        for name, n in re.findall(r'^router_cascade_answered_total\{level="([^"]*)"\} (\S+)$', text, re.M)
    }
    degraded = re.search(r"^router_brownout_texts_total (\S+)$", text, re.M)
    if not levels or degraded is None:
        return None
    return levels, int(float(degraded.group(1)))


def cascade_shares(before, after) -> dict[str, Any] | None:
    """Shares of the texts each cascade level answered between two :func:`cascade_counters` readings, and the
    share routed degraded (warm-up requests included)."""
    if before is None or after is None:
        return None
    counts = {name: after[0].get(name, 0) - before[0].get(name, 0) for name in after[0]}
    total = sum(counts.values())
    if total <= 0:
        return None
    return {
        "texts": total,
        "levels": {name: round(n / total, 4) for name, n in counts.items()},
        "brownout_share": round((after[1] - before[1]) / total, 4),
    }


def step_passed(result: dict, slo_ms: float, min_achieved_ratio: float = 0.95) -> bool:
    """A rate holds when nothing failed, p99 is within the SLO, and the server kept up with the schedule."""
    return (
        result["errors"] == 0
        and result["p99_ms"] is not None
        and result["p99_ms"] <= slo_ms
        and result["achieved_rps"] >= min_achieved_ratio * result["target_rps"]
    )


def _summary(result: dict) -> dict:
    keys = (
        "target_rps", "achieved_rps", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms",
        "errors", "errors_by_type", "send_lag_p99_ms", "client_cpu_pct", "server_cpu_pct", "connections",
        "cascade",
    )  # fmt: skip
    return {k: result.get(k) for k in keys}


def run_http_bench(config: HttpBenchConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the benchmark and return its JSON-ready result (see ``docs/BENCHMARKS.md`` for the keys)."""
    say = progress or (lambda msg: None)
    if config.model is not None and not config.model.startswith("fake"):
        from llm_router.persistence.router_json import read_router_info

        read_router_info(config.model)  # a missing or broken folder fails here, before a server starts
    texts = request_texts(config)
    server: ServerProcess | None = None
    try:
        if config.model is not None:
            say(f"starting router serve --model {config.model} ...")
            server = ServerProcess(config.model, config.serve, extra_args=config.server_args).start()
            base = server.base_url
        else:
            base = config.url
        url = _target_url(base, config.endpoint)
        env = environment()

        def one(rps: float, duration_s: float, warmup_s: float) -> dict:
            load = LoadConfig(
                url=url,
                rps=rps,
                duration_s=duration_s,
                warmup_s=warmup_s,
                arrival=config.arrival,
                texts=texts,
                connections=config.connections,
                timeout_s=config.timeout_s,
                api_key_env=config.api_key_env,
            )
            cpu0 = server.cpu_seconds() if server else None
            counts0 = cascade_counters(base)
            result = run_in_subprocess(load)
            cpu1 = server.cpu_seconds() if server else None
            if cpu0 is not None and cpu1 is not None:
                result["server_cpu_pct"] = round(100.0 * (cpu1 - cpu0) / result["wall_s"], 1)
            shares = cascade_shares(counts0, cascade_counters(base))
            if shares is not None:
                result["cascade"] = shares
            return result

        if not config.find_max:
            say(f"{config.rps:g} requests/s for {config.duration_s:g} s (+{config.warmup_s:g} s warm-up) ...")
            result = one(config.rps, config.duration_s, config.warmup_s)
            result["environment"] = env
            result["config"] = {"bench": config.to_dict(), "load": result["config"]}
            return result

        steps: list[dict] = []
        good: float | None = None
        bad: float | None = None

        def step(rate: float) -> bool:
            rate = float(round(rate))
            say(f"step {len(steps) + 1}: {rate:g} requests/s for {config.step_duration_s:g} s ...")
            result = one(rate, config.step_duration_s, config.step_warmup_s)
            result["passed"] = step_passed(result, config.slo_ms, config.min_achieved_ratio)
            steps.append(result)
            say(
                f"  p99 {result['p99_ms']} ms, achieved {result['achieved_rps']:g}/s, "
                f"errors {result['errors']} -> {'held' if result['passed'] else 'missed'}"
            )
            wait_idle(base, settle_s=config.step_pause_s)  # the next step starts on an idle server
            return result["passed"]

        rate = config.start_rps
        while rate <= config.max_rps:
            if step(rate):
                good = float(round(rate))
                rate *= config.step_factor
            else:
                bad = float(round(rate))
                break
        if bad is not None:
            lo = good or 0.0
            for _ in range(config.refine_steps):
                mid = (lo + bad) / 2
                if mid - lo < max(10.0, 0.02 * bad):
                    break
                if step(mid):
                    lo = good = float(round(mid))
                else:
                    bad = float(round(mid))
        best = max((s for s in steps if s["passed"]), key=lambda s: s["target_rps"], default=None)
        out: dict[str, Any] = {"max_rps": good, "first_failing_rps": bad, "slo_ms": config.slo_ms}
        if best is not None:
            out.update({k: v for k, v in best.items() if k not in ("config", "hdr_latency_us", "passed")})
        else:
            out.update({"achieved_rps": None, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None})
            out["errors"] = steps[0]["errors"] if steps else None
        out["steps"] = [dict(_summary(s), passed=s["passed"]) for s in steps]
        out["environment"] = env
        out["config"] = {"bench": config.to_dict(), "load": steps[-1]["config"] if steps else None}
        return out
    finally:
        if server is not None:
            code = server.stop()
            if code not in (0, None):
                say(f"router serve exited with code {code}: {server.last_log_tail}")
