"""The serving configuration: one dataclass with working defaults, shared by `router serve` and the tests."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from llm_router.errors import RouterError


@dataclass
class ServeConfig:
    """How `router serve` runs a model.

    Micro-batching: concurrent requests are gathered into one inference of at most ``max_batch`` texts; the
    batch closes when it is full or when its oldest request has waited ``max_wait_ms`` (so a lone request at
    low load is delayed by at most ``max_wait_ms``). With ``adaptive_wait`` the batcher waits only when the
    recent arrival rate predicts another request within the remaining wait (at 100 requests/s and 2 ms it
    does not wait at all; at 1000 requests/s it does); batches also form on their own while an inference runs.
    ``infer_batch_size`` splits a gathered batch into model calls of that many texts, sorted by length (the
    predictor's ``batch_size``): smaller calls pad less when text lengths vary a lot. ``batching=False`` runs one inference per request (the
    "before" configuration); requests still queue, so back-pressure and deadlines behave the same.

    Back-pressure: at most ``max_queue`` texts wait for inference; beyond that a request gets 429 with
    ``Retry-After``. A request not answered within ``timeout_ms`` of its arrival gets 503. With ``admission``
    (admission control), a request is refused at once with 429 when, at the inference rate measured so far, the
    texts queued ahead of it would not be answered within half of ``timeout_ms`` (a margin for varying batch
    times): under overload the server sheds the excess and answers the rest in time, instead of letting every
    request expire in the queue.

    Brownout (a cascade only): with ``brownout_ms``, a batch whose oldest request has waited that long for its
    inference skips the cascade's most expensive level (``2 x brownout_ms``: the two most expensive, and so on,
    always keeping the first level), so that under overload answers get cheaper before requests are refused.
    ``router_brownout_texts_total`` in ``/metrics`` counts the texts routed that way. Off (None) by default.

    Input limits: a body above ``max_body_bytes`` gets 413; ``/route/batch`` takes at most ``max_batch_texts``
    texts, and never more than ``max_queue`` (413 above). A text is cut to ``max_text_chars`` characters
    before tokenisation (the tokenizer then truncates it to the model's ``max_length`` tokens), so a long text
    costs no more than a short one.

    Access control (``llm_router.serve.auth``): with ``api_key_env`` set, the token is read from that environment
    variable and every route but ``/health`` needs ``Authorization: Bearer <token>`` (``/metrics`` too, unless
    ``open_metrics``).

    Scale-out (``llm_router.serve.workers``): ``workers`` > 1 runs that many server processes on the same port
    (``SO_REUSEPORT``; the kernel spreads connections), each with its own model, batcher and ``/metrics``.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    device: str = "cpu"
    threads: int = 1
    max_batch: int = 32
    infer_batch_size: int | None = None  # texts per model call inside a gathered batch; None = max_batch
    max_wait_ms: float = 2.0
    adaptive_wait: bool = True
    max_queue: int = 1024
    timeout_ms: float = 1000.0
    admission: bool = True
    batching: bool = True
    # batches run at once in the process (threads sharing the model): 2 measured better near the maximum rate
    # and no worse at 100 requests/s on 2 cores (docs/SERVING.md)
    inference_workers: int = 2
    brownout_ms: float | None = None  # queue wait after which a cascade skips its most expensive level(s)
    max_body_bytes: int = 64 * 1024
    max_batch_texts: int = 256
    max_text_chars: int = 4096
    retry_after_s: int = 1
    drain_timeout_s: float = 30.0
    keep_alive_s: float = 30.0
    log_level: str = "warning"
    api_key_env: str | None = None  # name of the environment variable holding the bearer token
    open_metrics: bool = False  # with a token: leave /metrics readable without it
    workers: int = 1  # server processes sharing the port (SO_REUSEPORT)

    def __post_init__(self) -> None:
        checks = {
            "port": 0 <= self.port <= 65535,
            "threads": self.threads >= 1,
            "max_batch": self.max_batch >= 1,
            "infer_batch_size": self.infer_batch_size is None or self.infer_batch_size >= 1,
            "max_wait_ms": self.max_wait_ms >= 0,
            "max_queue": self.max_queue >= 1,
            "timeout_ms": self.timeout_ms > 0,
            "inference_workers": self.inference_workers >= 1,
            "brownout_ms": self.brownout_ms is None or self.brownout_ms > 0,
            "max_body_bytes": self.max_body_bytes >= 64,
            "max_batch_texts": self.max_batch_texts >= 1,
            "max_text_chars": self.max_text_chars >= 1,
            "retry_after_s": self.retry_after_s >= 0,
            "drain_timeout_s": self.drain_timeout_s >= 0,
            "keep_alive_s": self.keep_alive_s > 0,
            "workers": self.workers >= 1,
            "log_level": self.log_level in ("critical", "error", "warning", "info", "debug", "trace"),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise RouterError(
                "invalid serve setting(s): " + ", ".join(f"{n}={getattr(self, n)!r}" for n in bad)
            )
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise RouterError(f"--device must be cpu or cuda, got {self.device!r}")
        # a batch request larger than the whole queue could never be accepted
        self.max_batch_texts = min(self.max_batch_texts, self.max_queue)

    @property
    def effective_max_batch(self) -> int:
        """Texts per inference: ``max_batch``, or 1 without batching."""
        return self.max_batch if self.batching else 1

    @property
    def effective_max_wait_s(self) -> float:
        return self.max_wait_ms / 1000.0 if self.batching else 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
