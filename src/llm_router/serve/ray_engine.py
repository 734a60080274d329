"""`router serve --engine ray`: the same FastAPI app, replicated by Ray Serve (one machine or a cluster).

Each Ray Serve replica builds the very app `router serve` runs (``create_app``: same routes, same JSON, same
``/health``, ``/ready``, ``/metrics``, same micro-batcher and back-pressure) around its own ``Predictor``, through
``serve.ingress(builder)``: the builder runs *inside* the replica, so the model is loaded there, never pickled.
Ray's HTTP proxy listens on ``--host:--port`` and spreads requests over the replicas; ``/metrics`` and ``/ready``
answer for whichever replica the proxy picked (per replica, as with ``--workers``).

Replicas: a fixed ``replicas`` count, or Ray autoscaling between ``min_replicas`` and ``max_replicas`` (target:
``target_ongoing_requests`` per replica). ``max_ongoing_requests`` is set high so that Ray does not queue in
front of the replica's own batcher (which needs concurrent requests to form batches, and answers 429 itself).

Ray is started on 127.0.0.1 only (no dashboard, no usage stats, no metrics collection) unless ``address`` joins
an existing cluster (``auto``, ``HOST:PORT`` or ``ray://HOST:10001``); see docs/DEPLOY.md.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from llm_router.errors import RouterError
from llm_router.serve.config import ServeConfig

APP_NAME = "llm-router"


@dataclass
class RayServeOptions:
    """How Ray Serve runs the router.

    ``replicas``: fixed replica count (ignored when ``min_replicas``/``max_replicas`` ask for autoscaling).
    ``min_replicas``/``max_replicas``: Ray Serve autoscaling bounds; ``target_ongoing_requests`` is the load per
    replica the autoscaler aims for. ``cpus_per_replica``: Ray CPU resources reserved by each replica (the
    model's ``--threads`` should match). ``max_ongoing_requests``: requests Ray lets into one replica at a time.
    ``address``: join this Ray cluster instead of starting a local, loopback-only instance. ``num_cpus``: CPUs
    the local instance offers (default: all).
    """

    replicas: int = 1
    min_replicas: int | None = None
    max_replicas: int | None = None
    target_ongoing_requests: float = 16.0
    cpus_per_replica: float = 1.0
    max_ongoing_requests: int = 1024
    address: str | None = None
    num_cpus: int | None = None

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise RouterError(f"--replicas must be >= 1, got {self.replicas}")
        if self.min_replicas is not None and self.min_replicas < 0:
            raise RouterError(f"--min-replicas must be >= 0, got {self.min_replicas}")
        if self.max_replicas is not None and self.max_replicas < max(1, self.min_replicas or 0):
            raise RouterError("--max-replicas must be >= 1 and >= --min-replicas")
        if self.cpus_per_replica <= 0 or self.max_ongoing_requests < 1 or self.target_ongoing_requests <= 0:
            raise RouterError("--cpus-per-replica, max ongoing and target ongoing requests must be positive")

    @property
    def autoscaling(self) -> bool:
        return self.min_replicas is not None or self.max_replicas is not None

    def deployment_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "max_ongoing_requests": self.max_ongoing_requests,
            "ray_actor_options": {"num_cpus": self.cpus_per_replica},
        }
        if self.autoscaling:
            lo = self.min_replicas if self.min_replicas is not None else 1
            hi = self.max_replicas if self.max_replicas is not None else max(lo, self.replicas)
            opts["autoscaling_config"] = {
                "min_replicas": lo,
                "initial_replicas": max(lo, min(self.replicas, hi)),
                "max_replicas": hi,
                "target_ongoing_requests": self.target_ongoing_requests,
            }
        else:
            opts["num_replicas"] = self.replicas
        return opts


def init_ray(address: str | None = None, num_cpus: int | None = None):
    """``ray`` initialised: a local instance on 127.0.0.1 (no dashboard, usage stats or metrics collection), or
    connected to the cluster at ``address``. Returns the ``ray`` module."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # before Ray is imported or started
    os.environ.setdefault("RAY_enable_metrics_collection", "0")
    if not address:
        # the local instance's workers inherit this environment: let them import the llm_router this process runs
        # (a source tree or another editable install would otherwise be shadowed by whatever site-packages holds)
        from pathlib import Path

        import llm_router

        here = str(Path(llm_router.__file__).resolve().parents[1])
        paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if here not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join([here, *filter(None, paths)])
        # Ray swaps 127.0.0.1 for the machine's routable address unless this (read when ray is imported) says
        # the node is not part of a multi-machine cluster: then it stays on loopback, as `--host` does.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        # Serve's controller kills an HTTP proxy that is not ready within 5 s; on a busy 2-core machine (training
        # beside it) starting one takes longer, and `serve.start` then fails with "killed by ray.kill"
        os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "60")
    try:
        import ray
    except ImportError:
        raise RouterError("--engine ray needs Ray: pip install -e '.[ray]'") from None
    if not address:  # ray was imported before the variable was set: the same switch, on the loaded module
        ray._private.ray_constants.ENABLE_RAY_CLUSTER = False
    if ray.is_initialized():
        return ray
    try:
        if address:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        else:
            ray.init(
                _node_ip_address="127.0.0.1",
                include_dashboard=False,
                num_cpus=num_cpus,
                log_to_driver=False,
                configure_logging=False,
            )
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError...
        msg = " ".join(str(exc).split())[:300]
        raise RouterError(f"cannot start or join Ray ({type(exc).__name__}: {msg})") from None
    return ray


def build_application(model: str, config: ServeConfig, options: RayServeOptions, token: str | None = None):
    """The Ray Serve application: one deployment whose replicas each run ``create_app`` on their own model.

    ``token`` (the bearer token, when ``config.api_key_env`` is set) is handed to the replicas in the
    deployment's definition, since a replica on another node does not see this process's environment.
    """
    import dataclasses

    from ray import serve

    replica_config = dataclasses.replace(config, workers=1)

    def build_app():
        from llm_router.serve.app import create_app
        from llm_router.serve.server import make_loader

        if token and replica_config.api_key_env:
            os.environ[replica_config.api_key_env] = token
        source = make_loader(model, replica_config.device, replica_config.threads)
        predictor = source if hasattr(source, "predict") else source()  # loaded before the replica is ready
        return create_app(predictor, replica_config)

    class RouterReplica:
        """One Ray Serve replica: the `router serve` app around its own model."""

    deployment = serve.deployment(
        serve.ingress(build_app)(RouterReplica), name="router", **options.deployment_options()
    )
    return deployment.bind()


@contextlib.contextmanager
def ray_server(model: str, config: ServeConfig, options: RayServeOptions) -> Iterator[str]:
    """Start Ray (or join ``options.address``), deploy the router on ``config.host:config.port``, yield the base
    URL; on exit delete the application and, when Ray was started here, shut Serve and Ray down."""
    from llm_router.serve.auth import read_token
    from llm_router.serve.server import _free_port, make_loader

    if not isinstance(model, str):
        raise RouterError(
            "--engine ray needs a model folder or fake:DELAY_MS spec (each replica loads its own)"
        )
    make_loader(model, config.device, config.threads)  # a wrong path fails here, before Ray starts
    token = read_token(config.api_key_env) if config.api_key_env else None
    port = config.port or _free_port(config.host)
    if not options.address:
        from llm_router.serve.workers import reuse_port_socket

        reuse_port_socket(config.host, port).close()  # fail fast on a port in use
    ray = init_ray(options.address, options.num_cpus)
    started_here = not options.address
    from ray import serve

    try:
        try:
            quiet = {"log_level": "WARNING", "enable_access_log": False}  # no per-request log lines
            serve.start(http_options={"host": config.host, "port": port}, logging_config=quiet)
            serve.run(
                build_application(model, config, options, token),
                name=APP_NAME,
                route_prefix="/",
                blocking=False,
                logging_config=quiet,
            )
        except Exception as exc:
            msg = " ".join(str(exc).split())[:300]
            raise RouterError(f"Ray Serve failed: {type(exc).__name__}: {msg}") from None
        yield f"http://{config.host}:{port}"
    finally:
        with contextlib.suppress(Exception):
            serve.delete(APP_NAME)
        if started_here:
            with contextlib.suppress(Exception):
                serve.shutdown()
            ray.shutdown()


def run_ray_server(model: str, config: ServeConfig, options: RayServeOptions) -> None:
    """`router serve --engine ray`: deploy, then block until SIGTERM/SIGINT, then tear down."""
    import sys

    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    try:
        with ray_server(model, config, options) as url:
            scale = (
                f"{options.deployment_options()['autoscaling_config']}"
                if options.autoscaling
                else f"{options.replicas} replica(s)"
            )
            print(f"serving {model} with Ray Serve on {url} ({scale})", file=sys.stderr, flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            with contextlib.suppress(Exception):
                signal.signal(sig, handler)
