"""Serve a router model over HTTP with dynamic micro-batching (`router serve`).

Names are imported lazily, so ``llm_router.serve.config`` (used by the load generator's process) does not pull
in FastAPI.
"""

from llm_router.utils.lazy import lazy_exports

_EXPORTS = {
    "create_app": "llm_router.serve.app",
    "DeadlineExceeded": "llm_router.serve.batcher",
    "MicroBatcher": "llm_router.serve.batcher",
    "QueueFull": "llm_router.serve.batcher",
    "ShuttingDown": "llm_router.serve.batcher",
    "ServeConfig": "llm_router.serve.config",
    "FakePredictor": "llm_router.serve.fake",
    "build_server": "llm_router.serve.server",
    "make_loader": "llm_router.serve.server",
    "run_server": "llm_router.serve.server",
    "serve_in_thread": "llm_router.serve.server",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
