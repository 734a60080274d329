"""`router serve --workers N`: N processes on one port (SO_REUSEPORT), SIGTERM stops them all with exit 0,
and a wrong model or a taken port fails with one line and exit 2 before any worker starts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from llm_router.bench.loadgen import free_port
from llm_router.cli import app

pytestmark = pytest.mark.timeout(120)
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _listeners(pid: int, port: int) -> set[int]:
    """Pids among ``pid``'s children that listen on ``port``."""
    found = set()
    for child in psutil.Process(pid).children(recursive=True):
        try:
            conns = child.net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns):
            found.add(child.pid)
    return found


def test_two_workers_share_the_port_and_stop_on_sigterm():
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "llm_router.cli", "serve", "--model", "fake:1", "--port", str(port),
           "--workers", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while len(_listeners(proc.pid, port)) < 2:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "two workers never listened"
            time.sleep(0.1)
        workers = _listeners(proc.pid, port)
        assert proc.pid not in workers  # the parent only supervises
        ok = 0
        while ok < 20:  # fresh connections: the kernel spreads them over both workers
            try:
                resp = httpx.post(base + "/route", json={"text": f"query {ok}"}, timeout=5)
            except httpx.HTTPError:
                time.sleep(0.05)  # a worker still loading
                continue
            if resp.status_code == 503:
                time.sleep(0.05)
                continue
            assert resp.status_code == 200
            assert set(resp.json()) >= {"route", "confidence", "scores"}
            ok += 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in workers)
        with pytest.raises(httpx.ConnectError):
            httpx.get(base + "/health", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_workers_bad_model_fails_before_starting(tmp_path):
    result = CliRunner().invoke(app, ["serve", "--model", str(tmp_path / "missing"), "--workers", "2"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_workers_port_taken_fails_with_one_line():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = CliRunner().invoke(
            app, ["serve", "--model", "fake:0", "--workers", "2", "--port", str(port)]
        )
    assert result.exit_code == 2
    assert "cannot bind" in result.output


def test_workers_and_ray_engine_are_exclusive():
    result = CliRunner().invoke(app, ["serve", "--model", "fake:0", "--workers", "2", "--engine", "ray"])
    assert result.exit_code == 2
    result = CliRunner().invoke(app, ["serve", "--model", "fake:0", "--engine", "nope"])
    assert result.exit_code == 2


def test_bench_starts_servers_with_the_engine_options():
    from llm_router.bench.http import HttpBenchConfig, ServerProcess
    from llm_router.cli import server_engine_args
    from llm_router.serve.config import ServeConfig

    cmd = ServerProcess("fake:0", ServeConfig(workers=2, inference_workers=3)).command()
    assert cmd[cmd.index("--workers") + 1] == "2"
    assert cmd[cmd.index("--inference-workers") + 1] == "3"
    # the server's default is passed too, so a bench of one inference thread gets one
    one = ServerProcess("fake:0", ServeConfig(inference_workers=1)).command()
    assert one[one.index("--inference-workers") + 1] == "1"
    default = ServerProcess("fake:0", ServeConfig()).command()
    assert default[default.index("--inference-workers") + 1] == str(ServeConfig().inference_workers) == "2"
    assert "--brownout-ms" not in default
    brownout = ServerProcess("fake:0", ServeConfig(brownout_ms=20.0)).command()
    assert brownout[brownout.index("--brownout-ms") + 1] == "20.0"
    ray_args = server_engine_args("ray", 1, 2)
    assert ServerProcess("fake:0", extra_args=ray_args).command()[-4:] == [
        "--engine",
        "ray",
        "--replicas",
        "2",
    ]
    assert server_engine_args("uvicorn", 2, 1) == []
    assert HttpBenchConfig(model="fake:0", server_args=ray_args).server_args == ray_args
    result = CliRunner().invoke(app, ["bench", "--model", "fake:0", "--engine", "ray", "--workers", "2"])
    assert result.exit_code == 2 and "--replicas" in result.output


@pytest.mark.parametrize("command", ["serve", "bench"])
def test_serve_and_bench_defaults_are_the_serve_configs(command):
    """The shared serving options are written out by hand in `router serve` and `router bench`; their defaults
    must stay those of ``ServeConfig`` (e.g. two inference threads)."""
    import inspect

    from llm_router import cli
    from llm_router.serve.config import ServeConfig

    params = inspect.signature(getattr(cli, command)).parameters
    shared = ("device", "threads", "max_batch", "infer_batch_size", "max_wait_ms", "max_queue", "timeout_ms")
    for key in (*shared, "admission", "workers", "inference_workers", "brownout_ms"):
        assert params[key].default == getattr(ServeConfig, key), key
