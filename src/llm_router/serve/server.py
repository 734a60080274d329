"""Run the service: resolve ``--model`` to a loader and serve it with uvicorn (uvloop/httptools when present).

SIGTERM or SIGINT starts a graceful drain: ``/ready`` turns 503, the listening socket closes, idle keep-alive
connections close, requests already received are answered, then the batcher stops and the process exits 0.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llm_router.errors import RouterError
from llm_router.serve.app import ServerState, create_app
from llm_router.serve.config import ServeConfig
from llm_router.serve.fake import FakePredictor

logger = logging.getLogger("llm_router.serve")


def make_loader(model: str, device: str = "cpu", threads: int = 1) -> Any:
    """``fake:...`` -> a :class:`FakePredictor`; a model folder (or ``.onnx`` file) -> a callable loading it
    with ``runtime.Predictor``.

    The folder is checked here, so a wrong path fails before the server starts; the (slow) load itself runs
    inside the server, after it is listening, so ``/health`` answers and ``/ready`` says 503 meanwhile.
    """
    if model == "fake" or model.startswith("fake:"):
        return FakePredictor.from_spec(model)
    from llm_router.runtime import read_router_info

    path = Path(model).expanduser()
    read_router_info(path)  # a missing or malformed model fails here, before the server starts

    def load() -> Any:
        from llm_router.runtime import Predictor

        return Predictor.load(path, device=device, threads=threads)

    return load


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _setup_logging(level: str) -> None:
    log = logging.getLogger("llm_router")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO if level in ("info", "debug", "trace", "warning") else level.upper())


def _noop_signal_handler(signum, frame) -> None:  # uvicorn re-raises the signal after its graceful exit
    pass


def build_server(source: Any, config: ServeConfig):
    """The uvicorn server (not started) and the app state, for :func:`run_server` and embedded tests."""
    import uvicorn

    app = create_app(source, config)
    state: ServerState = app.state.router

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame) -> None:
            state.begin_drain()
            super().handle_exit(sig, frame)

    uv_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        loop="uvloop" if _has("uvloop") else "asyncio",
        http="httptools" if _has("httptools") else "h11",
        lifespan="on",
        access_log=False,
        log_level=config.log_level,
        timeout_graceful_shutdown=int(config.drain_timeout_s) if config.drain_timeout_s else None,
        timeout_keep_alive=int(config.keep_alive_s),
        backlog=4096,
        server_header=False,
        date_header=False,
    )
    server = DrainingServer(uv_config)

    def on_fatal(message: str) -> None:
        server.should_exit = True

    state.on_fatal = on_fatal
    return server, state


def run_server(model: str | Any, config: ServeConfig | None = None, *, sockets: list | None = None) -> None:
    """Serve ``model`` (a folder, ``fake:DELAY_MS``, or a predictor object) until SIGTERM/SIGINT.

    ``config.workers`` > 1 hands over to :func:`llm_router.serve.workers.run_workers` (one process per worker);
    ``sockets`` (already bound) are served instead of binding ``host:port`` (what each of those workers does).
    """
    config = config or ServeConfig()
    if config.workers > 1 and sockets is None:
        from llm_router.serve.workers import run_workers

        run_workers(model, config)
        return
    source = make_loader(model, config.device, config.threads) if isinstance(model, str) else model
    _setup_logging(config.log_level)
    server, state = build_server(source, config)
    logger.info(
        "serving %s on http://%s:%d (loop=%s, http=%s)",
        model if isinstance(model, str) else type(model).__name__,
        config.host,
        config.port,
        server.config.loop,
        server.config.http,
    )
    previous: dict[int, Callable | int | None] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _noop_signal_handler)
    try:
        server.run(sockets=sockets)
    finally:
        for sig, handler in previous.items():
            with contextlib.suppress(Exception):
                signal.signal(sig, handler)
    if state.status == "failed":
        raise RouterError(f"model failed to load: {state.error}")
    if not server.started:
        raise RouterError(f"server did not start on {config.host}:{config.port} (port in use?)")


@contextlib.contextmanager
def serve_in_thread(
    source: Any,
    config: ServeConfig | None = None,
    *,
    wait_ready: bool = False,
    start_timeout_s: float = 60.0,
):
    """Run the server in a background thread of this process (for tests and notebooks).

    Yields the app state, with ``state.base_url`` set; the server stops (draining) when the block exits. The
    model loads in the background; ``wait_ready=True`` returns only once it serves (``/ready`` is 200).
    """
    import time

    config = config or ServeConfig()
    if config.port == 0:
        config.port = _free_port(config.host)
    server, state = build_server(source, config)
    thread = threading.Thread(target=server.run, name="router-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RouterError(f"server did not start on {config.host}:{config.port}")
        time.sleep(0.01)
    state.base_url = f"http://{config.host}:{config.port}"
    while wait_ready and not state.ready:
        if state.status == "failed" or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(10)
            raise RouterError(f"model not ready: {state.error or 'timed out'}")
        time.sleep(0.01)
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(config.drain_timeout_s + 10)


def _free_port(host: str) -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
