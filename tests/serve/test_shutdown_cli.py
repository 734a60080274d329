"""`router serve` as a real process: SIGTERM drains accepted requests; bad options fail with one line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from llm_router.bench.loadgen import free_port
from llm_router.cli import app

pytestmark = pytest.mark.timeout(90)
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_sigterm_answers_every_accepted_request_then_exits_0():
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "llm_router.cli", "serve", "--model", "fake:500", "--port", str(port),
           "--max-batch", "4", "--timeout-ms", "10000"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                if httpx.get(base + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server never became ready"
            time.sleep(0.05)

        n = 12  # 500 ms inferences of at most 4: over a second of work in flight when SIGTERM arrives
        results: list[int | str] = [None] * n

        def call(i: int) -> None:
            try:
                results[i] = httpx.post(base + "/route", json={"text": f"q{i}"}, timeout=30).status_code
            except httpx.HTTPError as exc:
                results[i] = type(exc).__name__

        threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        # wait until the server has accepted all of them (answered, queued or inside an inference)
        while True:
            text = httpx.get(base + "/metrics", timeout=5).text
            held = _metric(text, "router_queue_depth") + _metric(text, "router_in_flight")
            done = _metric(text, 'router_requests_total{endpoint="/route",status="200"}')
            if held + done >= n:
                break
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert held >= 4  # work is still in flight when the signal arrives
        proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(30)
        assert results == [200] * n
        assert proc.wait(30) == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(base + "/health", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_with_a_missing_model_fails_with_one_line(tmp_path):
    result = CliRunner().invoke(app, ["serve", "--model", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such model" in result.output or "not found" in result.output
    assert "Traceback" not in result.output


def test_serve_rejects_bad_settings():
    result = CliRunner().invoke(app, ["serve", "--model", "fake:0", "--max-batch", "0"])
    assert result.exit_code == 2
    assert "max_batch" in result.output


def test_serve_rejects_bad_fake_spec():
    result = CliRunner().invoke(app, ["serve", "--model", "fake:abc"])
    assert result.exit_code == 2
    assert "fake model" in result.output
