"""Helpers for the serving tests: a real uvicorn server on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import contextlib
import time

import httpx

from llm_router.serve import ServeConfig, serve_in_thread


def wait_ready(base_url: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(base_url + "/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.02)
    raise AssertionError(f"{base_url} not ready after {timeout_s} s")


@contextlib.contextmanager
def running(predictor, wait: bool = True, **config):
    """``with running(FakePredictor(5), max_batch=8) as state: httpx.post(state.base_url + "/route", ...)``."""
    config.setdefault("port", 0)
    config.setdefault("drain_timeout_s", 5.0)
    with serve_in_thread(predictor, ServeConfig(**config), wait_ready=wait) as state:
        yield state
