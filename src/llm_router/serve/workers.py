"""`router serve --workers N`: N server processes on one port, one model each.

Every worker is a full `router serve` (its own model, micro-batcher, event loop and ``/metrics``) listening on its
own socket bound with ``SO_REUSEPORT`` to the same address: the kernel spreads incoming *connections* across
the workers (by a hash of the client address and port), so a client holding one keep-alive connection always talks
to the same worker, and a load balancer or a load generator with many connections spreads evenly.

Consequences, documented in docs/SERVING.md:

- ``/metrics``, ``/ready`` and the queue gauges are **per worker**: a scrape sees the worker that accepted that
  connection. Scrape each worker (or sum in Prometheus over several scrapes) rather than trusting one answer.
- Memory is N models; give each worker ``--threads`` so that N x threads does not exceed the cores.

The parent process only supervises: it checks the model and the port first (a bad path or a port in use fails
with one line and exit 2 before any worker starts), starts the workers (``spawn``, each in its own process group
so that a terminal's Ctrl-C reaches the parent only), forwards SIGTERM/SIGINT once as SIGTERM (each worker then
drains as a single server does), and exits 0 when they have all exited cleanly. A worker that dies on its own
stops the others and the parent exits 2. A worker whose parent disappears stops itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

from llm_router.errors import RouterError
from llm_router.serve.config import ServeConfig

logger = logging.getLogger("llm_router.serve")


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT`` (not yet listening); ``RouterError`` if taken."""
    if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - Windows
        raise RouterError("--workers > 1 needs SO_REUSEPORT (Linux, macOS, BSD)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RouterError(f"cannot bind {host}:{port} ({exc.strerror or exc})") from None
    sock.set_inheritable(True)
    return sock


def _watch_parent(parent_pid: int) -> None:
    """Stop this worker (SIGTERM to itself: a graceful drain) if the supervising process goes away."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGTERM)
            return


def _worker_main(model: str, config: ServeConfig, index: int, parent_pid: int) -> None:
    """Body of one worker process: bind the shared port and run a normal server on that socket."""
    os.setpgrp()  # Ctrl-C in a terminal goes to the parent, which forwards exactly one SIGTERM
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="parent-watch").start()
    from llm_router.serve.server import run_server

    try:
        sock = reuse_port_socket(config.host, config.port)
        run_server(model, config, sockets=[sock])
    except RouterError as exc:
        print(f"error: worker {index}: {exc}", file=sys.stderr, flush=True)
        sys.exit(exc.exit_code)


def run_workers(model: str | Any, config: ServeConfig) -> None:
    """Run ``config.workers`` server processes on ``config.host:config.port`` until SIGTERM/SIGINT."""
    if not isinstance(model, str):
        raise RouterError(
            "--workers > 1 needs a model folder or fake:DELAY_MS spec (each worker loads its own)"
        )
    from llm_router.serve.server import _free_port, make_loader

    make_loader(model, config.device, config.threads)  # a wrong path fails here, before any worker starts
    port = config.port or _free_port(config.host)
    reuse_port_socket(config.host, port).close()  # the port is free (or only shared with SO_REUSEPORT)
    child_config = dataclasses.replace(config, workers=1, port=port)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(
            target=_worker_main,
            args=(model, child_config, i, os.getpid()),
            name=f"router-worker-{i}",
            daemon=False,
        )
        for i in range(config.workers)
    ]
    stopping = threading.Event()

    def on_signal(signum, frame) -> None:
        stopping.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    failed: list[str] = []
    try:
        for proc in procs:
            proc.start()
        print(
            f"serving {model} with {len(procs)} workers on http://{config.host}:{port} "
            f"(pids {', '.join(str(p.pid) for p in procs)}; /metrics is per worker)",
            file=sys.stderr,
            flush=True,
        )
        forwarded = False
        while any(p.is_alive() for p in procs):
            if not stopping.is_set():
                for i, proc in enumerate(procs):
                    if not proc.is_alive():
                        failed.append(f"worker {i} exited with code {proc.exitcode}")
                        stopping.set()
            if stopping.is_set() and not forwarded:
                forwarded = True
                for proc in procs:
                    if proc.is_alive():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(proc.pid, signal.SIGTERM)
            if forwarded:
                time.sleep(0.1)
            else:
                stopping.wait(0.2)
        for proc in procs:
            proc.join()
    finally:
        for proc in procs:  # only if the parent itself failed: never leave workers behind
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        for sig, handler in previous.items():
            with contextlib.suppress(Exception):
                signal.signal(sig, handler)
    bad = [f"worker {i} exited with code {p.exitcode}" for i, p in enumerate(procs) if p.exitcode != 0]
    if failed or bad:
        raise RouterError("; ".join(dict.fromkeys(failed + bad)))
