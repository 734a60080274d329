"""The HTTP service: FastAPI routes over a :class:`~llm_router.serve.batcher.MicroBatcher`.

``create_app(predictor_or_loader, config)`` takes anything with the ``runtime.Predictor`` interface
(``predict(texts, batch_size) -> .routes, .route_probs``; ``routes``; ``name``; optional ``warmup()``), or a
zero-argument callable returning one. The model is loaded and warmed up in a thread after startup, so the
server answers ``/health`` at once and ``/ready`` with 503 until the model can serve.

Endpoints:

- ``POST /route`` ``{"text": "..."}`` -> ``{"route", "confidence", "scores": {route: prob}, "policy", "reason",
  "model", "latency_ms"}``; ``confidence`` is the top route probability, ``policy`` the rule of the model folder's
  ``policy.json`` that decided the route (``argmax`` without one), ``reason`` why (see ``runtime.policy``)
- ``POST /route/batch`` ``{"texts": [...]}`` -> ``{"results": [{"route", "confidence", "scores", "policy",
  "reason"}...], "model", "latency_ms"}``
- ``GET /health`` (the process is alive), ``GET /ready`` (503 until loaded and warmed up, and while draining),
  ``GET /metrics`` (Prometheus text format).

Errors are JSON ``{"error": kind, "detail": message}``: 400 malformed JSON / non-UTF-8 body / body not an
object, 413 body over ``max_body_bytes`` or too many texts, 422 missing or mistyped field or empty text, 429 queue
full (with ``Retry-After``), 503 not ready / past deadline / shutting down, 500 only if the model itself fails.
The hot path (``FastPathMiddleware``) is plain ASGI and parses the body by hand (orjson) rather
than through pydantic: it is one field, and the per-request cost matters at 1000+ requests/s on 2 cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from llm_router.serve.batcher import (
    DeadlineExceeded,
    InferenceFailed,
    MicroBatcher,
    QueueFull,
    ShuttingDown,
    WouldMissDeadline,
)
from llm_router.serve.config import ServeConfig
from llm_router.serve.metrics import CONTENT_TYPE, ServerMetrics

logger = logging.getLogger("llm_router.serve")

_dumps = orjson.dumps
_loads = orjson.loads
_JSONError: tuple[type[Exception], ...] = (orjson.JSONDecodeError,)

JSON_TYPE = "application/json"
ARGMAX_REASON = "highest probability"  # the reason of a model without a routing policy


class ApiError(Exception):
    """A client-facing error: HTTP status, machine-readable kind, human message, extra headers."""

    def __init__(self, status: int, kind: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.headers = headers


def error_response(status: int, kind: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    return Response(_dumps({"error": kind, "detail": detail}), status, headers, JSON_TYPE)


class ServerState:
    """Everything the routes share: config, model, batcher, metrics and the lifecycle flags."""

    def __init__(self, source: Any, config: ServeConfig):
        self.source = source
        self.config = config
        self.metrics = ServerMetrics()
        self.predictor: Any = None
        self.batcher: MicroBatcher | None = None
        self.model_name = "?"
        self.routes: list[str] = []
        self.status = "loading"  # loading -> ready -> draining | failed
        self.error: str | None = None
        self.on_fatal: Callable[[str], None] | None = None  # set by the runner: stop the server
        self.base_url: str | None = None  # set by serve_in_thread
        self._load_task: asyncio.Task | None = None
        retry = str(config.retry_after_s)
        self.retry_headers = {"Retry-After": retry}

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    # --------------------------------------------------------------------------------------- loading
    def _load_and_warm(self) -> Callable[[list[str]], list]:
        source = self.source
        predictor = source if hasattr(source, "predict") else source()
        self.predictor = predictor
        self.model_name = str(getattr(predictor, "name", type(predictor).__name__))
        routes = [str(r) for r in predictor.routes]
        self.routes = routes
        batch_size = self.config.infer_batch_size or self.config.max_batch

        def predict(texts: list[str], degrade: int = 0) -> list:
            # runs in the batch worker: the policy was applied to the whole batch inside predictor.predict;
            # degrade > 0 (brownout, a cascade only): skip that many of its most expensive levels
            if degrade:
                prediction = predictor.predict_degraded(texts, batch_size=batch_size, drop=degrade)
            else:
                prediction = predictor.predict(texts, batch_size=batch_size)
            rows = prediction.route_probs.tolist()
            rules = getattr(prediction, "rules", None)
            if rules is None:  # no policy: every route is the argmax
                return [
                    (route, max(row), dict(zip(routes, row, strict=True)), "argmax", ARGMAX_REASON)
                    for route, row in zip(prediction.routes, rows, strict=True)
                ]
            return [
                (route, max(row), dict(zip(routes, row, strict=True)), rule, reason)
                for route, row, rule, reason in zip(
                    prediction.routes, rows, rules, prediction.reasons, strict=True
                )
            ]

        if hasattr(predictor, "warmup"):
            predictor.warmup()
        predict(["warm-up query", "a second, slightly longer warm-up query for the batch path"])
        if hasattr(predictor, "reset_counts"):
            predictor.reset_counts()  # /metrics counts served texts only
        return predict

    async def start(self) -> None:
        self._load_task = asyncio.get_running_loop().create_task(self._load())

    async def _load(self) -> None:
        started = time.perf_counter()
        try:
            predict = await asyncio.to_thread(self._load_and_warm)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.status = "failed"
            self.error = f"{type(exc).__name__}: {exc}"
            logger.error("model failed to load: %s", self.error)
            if self.on_fatal is not None:
                self.on_fatal(self.error)
            return
        cfg = self.config
        brownout = cfg.brownout_ms is not None and hasattr(self.predictor, "predict_degraded")
        if cfg.brownout_ms is not None and not brownout:
            logger.warning("--brownout-ms ignored: %s is not a cascade", self.model_name)
        self.batcher = MicroBatcher(
            predict,
            max_batch=cfg.effective_max_batch,
            max_wait_s=cfg.effective_max_wait_s,
            max_queue=cfg.max_queue,
            timeout_s=cfg.timeout_ms / 1000.0,
            workers=cfg.inference_workers,
            adaptive_wait=cfg.adaptive_wait,
            admission=cfg.admission,
            observer=self.metrics.observe_batch,
            degrade_after_s=cfg.brownout_ms / 1000.0 if brownout else None,
        )
        if hasattr(self.predictor, "level_counts"):
            self.metrics.cascade_counts = self.predictor.level_counts
        self.batcher.start()
        self.metrics.queue_depth = lambda: self.batcher.queue_depth
        self.metrics.in_flight = lambda: self.batcher.in_flight
        self.status = "ready"
        logger.info(
            "model %s ready in %.1fs (batching=%s, max_batch=%d, max_wait=%gms)",
            self.model_name,
            time.perf_counter() - started,
            cfg.batching,
            cfg.effective_max_batch,
            cfg.effective_max_wait_s * 1000,
        )

    def begin_drain(self) -> None:
        """Report not-ready (so a balancer stops sending) while accepted requests finish."""
        if self.status == "ready":
            self.status = "draining"

    async def stop(self) -> None:
        self.begin_drain()
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._load_task
        if self.batcher is not None:
            await self.batcher.close(self.config.drain_timeout_s)

    # ---------------------------------------------------------------------------------------- submit
    async def infer(self, texts: list[str]) -> list:
        batcher = self.batcher
        if batcher is None:  # while draining, requests already accepted are still served
            detail = "model is loading" if self.status == "loading" else f"server is {self.status}"
            self.metrics.rejected["not_ready"] += 1
            raise ApiError(503, "not_ready", detail, self.retry_headers)
        try:
            future = batcher.submit(texts)
        except WouldMissDeadline as exc:
            self.metrics.rejected["admission"] += 1
            raise ApiError(429, "overloaded", str(exc), self.retry_headers) from None
        except QueueFull as exc:
            self.metrics.rejected["queue_full"] += 1
            raise ApiError(429, "overloaded", str(exc), self.retry_headers) from None
        except ShuttingDown as exc:
            self.metrics.rejected["shutting_down"] += 1
            raise ApiError(503, "shutting_down", str(exc), self.retry_headers) from None
        try:
            return await future
        except DeadlineExceeded as exc:
            self.metrics.rejected["deadline"] += 1
            raise ApiError(503, "deadline_exceeded", str(exc), self.retry_headers) from None
        except ShuttingDown as exc:
            self.metrics.rejected["shutting_down"] += 1
            raise ApiError(503, "shutting_down", str(exc), self.retry_headers) from None
        except InferenceFailed as exc:
            raise ApiError(500, "inference_failed", str(exc)) from None


# ------------------------------------------------------------------------------------ request parsing
async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or 413 as soon as it is known to exceed ``limit`` bytes."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise ApiError(400, "bad_request", "invalid Content-Length header") from None
        if declared > limit:
            raise ApiError(413, "body_too_large", f"body of {declared} bytes exceeds the {limit}-byte limit")
        return await request.body()
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ApiError(413, "body_too_large", f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_object(body: bytes) -> dict:
    if not body:
        raise ApiError(400, "invalid_json", "empty body: expected a JSON object")
    try:
        obj = _loads(body)
    except _JSONError as exc:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "invalid_encoding", "body is not valid UTF-8") from None
        raise ApiError(400, "invalid_json", f"malformed JSON: {exc}") from None
    except (UnicodeDecodeError, RecursionError):
        raise ApiError(400, "invalid_json", "body is not valid UTF-8 JSON") from None
    if not isinstance(obj, dict):
        raise ApiError(400, "invalid_json", f"expected a JSON object, got {type(obj).__name__}")
    return obj


def clean_text(value: Any, field: str, max_chars: int) -> str:
    """Validate one text: a non-blank string of valid Unicode, cut to ``max_chars`` characters."""
    if not isinstance(value, str):
        kind = "missing" if value is None else type(value).__name__
        raise ApiError(422, "invalid_field", f"'{field}' must be a string, got {kind}")
    if not value or value.isspace():
        raise ApiError(422, "empty_text", f"'{field}' must not be empty or whitespace")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(422, "invalid_text", f"'{field}' contains invalid Unicode (lone surrogates)") from None
    return value if len(value) <= max_chars else value[:max_chars]


# ------------------------------------------------------------------------------------------ handlers
class RouteHandlers:
    """``/route`` and ``/route/batch`` as ``body bytes -> (status, JSON bytes, headers)``, shared by the ASGI
    fast path and the FastAPI endpoints."""

    def __init__(self, state: ServerState):
        self.state = state
        self.max_chars = state.config.max_text_chars
        self.max_texts = state.config.max_batch_texts

    async def route(self, body: bytes, start: float) -> tuple[int, bytes, dict | None]:
        state = self.state
        try:
            text = clean_text(parse_object(body).get("text"), "text", self.max_chars)
            route, confidence, scores, rule, reason = (await state.infer([text]))[0]
        except ApiError as exc:
            return exc.status, _dumps({"error": exc.kind, "detail": exc.detail}), exc.headers
        state.metrics.decisions[(route, rule)] += 1
        payload = {
            "route": route,
            "confidence": confidence,
            "scores": scores,
            "policy": rule,
            "reason": reason,
            "model": state.model_name,
            "latency_ms": round((time.perf_counter() - start) * 1000.0, 3),
        }
        return 200, _dumps(payload), None

    async def batch(self, body: bytes, start: float) -> tuple[int, bytes, dict | None]:
        state = self.state
        try:
            texts = parse_object(body).get("texts")
            if not isinstance(texts, list):
                kind = "missing" if texts is None else type(texts).__name__
                raise ApiError(422, "invalid_field", f"'texts' must be a list of strings, got {kind}")
            if not texts:
                raise ApiError(422, "empty_batch", "'texts' must hold at least one text")
            if len(texts) > self.max_texts:
                raise ApiError(
                    413, "batch_too_large", f"{len(texts)} texts exceed the limit of {self.max_texts}"
                )
            texts = [clean_text(t, f"texts[{i}]", self.max_chars) for i, t in enumerate(texts)]
            results = await state.infer(texts)
        except ApiError as exc:
            return exc.status, _dumps({"error": exc.kind, "detail": exc.detail}), exc.headers
        decisions = state.metrics.decisions
        for result in results:
            decisions[(result[0], result[3])] += 1
        payload = {
            "results": [
                {"route": r, "confidence": c, "scores": s, "policy": rule, "reason": why}
                for r, c, s, rule, why in results
            ],
            "model": state.model_name,
            "latency_ms": round((time.perf_counter() - start) * 1000.0, 3),
        }
        return 200, _dumps(payload), None


class ClientDisconnected(Exception):
    pass


async def read_asgi_body(scope, receive, limit: int) -> bytes:
    """The body of an ASGI HTTP request, or :class:`ApiError` 413 as soon as it exceeds ``limit`` bytes."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise ApiError(400, "bad_request", "invalid Content-Length header") from None
            if declared > limit:
                raise ApiError(
                    413, "body_too_large", f"body of {declared} bytes exceeds the {limit}-byte limit"
                )
            break
    message = await receive()
    if message["type"] != "http.request":
        raise ClientDisconnected()
    body = message.get("body", b"")
    while True:  # the first message may already hold the whole (chunked) body: check it too
        if len(body) > limit:
            raise ApiError(413, "body_too_large", f"body exceeds the {limit}-byte limit")
        if not message.get("more_body", False):
            return body
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnected()
        body += message.get("body", b"")


_JSON_HEADER = (b"content-type", JSON_TYPE.encode("ascii"))


class FastPathMiddleware:
    """Pure ASGI, outermost below Starlette's error handler: answers ``POST /route`` and ``POST /route/batch``
    itself (no Request/Response objects, no routing, no dependency solving: about half the per-request
    cost of going through FastAPI), passes everything else on, and records every response in the metrics."""

    def __init__(self, app, state: ServerState):
        self.app = app
        self.state = state
        self.metrics = state.metrics
        self.handlers = RouteHandlers(state)
        self.max_body = state.config.max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope["path"]
        if scope["method"] == "POST" and (path == "/route" or path == "/route/batch"):
            handler = self.handlers.route if path == "/route" else self.handlers.batch
            try:
                body = await read_asgi_body(scope, receive, self.max_body)
            except ApiError as exc:
                status, payload, headers = exc.status, _dumps({"error": exc.kind, "detail": exc.detail}), None
            except ClientDisconnected:
                self.metrics.observe_request(path, 499, time.perf_counter() - start)
                return
            else:
                status, payload, headers = await handler(body, start)
            raw_headers = [_JSON_HEADER, (b"content-length", str(len(payload)).encode("ascii"))]
            if headers:
                raw_headers += [
                    (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
                ]
            await send({"type": "http.response.start", "status": status, "headers": raw_headers})
            await send({"type": "http.response.body", "body": payload})
            self.metrics.observe_request(path, status, time.perf_counter() - start)
            return

        status = 500

        async def send_and_record(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self.metrics.observe_request(path, status, time.perf_counter() - start)


_ROUTE_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            JSON_TYPE: {
                "schema": {
                    "type": "object",
                    "required": ["text"],
                    "properties": {"text": {"type": "string", "minLength": 1}},
                }
            }
        },
    }
}
_BATCH_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            JSON_TYPE: {
                "schema": {
                    "type": "object",
                    "required": ["texts"],
                    "properties": {"texts": {"type": "array", "items": {"type": "string", "minLength": 1}}},
                }
            }
        },
    }
}


def create_app(predictor_or_loader: Any, config: ServeConfig | None = None) -> FastAPI:
    """The FastAPI application serving ``predictor_or_loader`` (a predictor or a callable returning one)."""
    config = config or ServeConfig()
    state = ServerState(predictor_or_loader, config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="llm-router",
        description="Routes each query to the LLM that should answer it.",
        lifespan=lifespan,
    )
    app.state.router = state
    app.add_middleware(FastPathMiddleware, state=state)
    if config.api_key_env:  # added last, so it runs first: nothing unauthenticated reaches the fast path
        from llm_router.serve.auth import BearerAuthMiddleware, read_token

        token = read_token(config.api_key_env)
        app.add_middleware(
            BearerAuthMiddleware, token=token, open_metrics=config.open_metrics, metrics=state.metrics
        )
    handlers = RouteHandlers(state)
    max_body = config.max_body_bytes

    def _respond(result: tuple[int, bytes, dict | None]) -> Response:
        status, payload, headers = result
        return Response(payload, status, headers, JSON_TYPE)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, kind, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return error_response(422, "invalid_request", str(exc.errors()))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s", request.url.path)
        return error_response(500, "internal_error", "internal server error")

    # POST /route and /route/batch are answered by FastPathMiddleware; these endpoints document them in the
    # OpenAPI schema and serve the same handlers if the app is mounted without its middleware.
    @app.post("/route", response_class=Response, openapi_extra=_ROUTE_DOC)
    async def route(request: Request) -> Response:
        """Route one query: ``{"text": ...}`` -> ``{"route", "confidence", "scores", "model", "latency_ms"}``."""
        start = time.perf_counter()
        try:
            body = await read_body(request, max_body)
        except ApiError as exc:
            return error_response(exc.status, exc.kind, exc.detail, exc.headers)
        return _respond(await handlers.route(body, start))

    @app.post("/route/batch", response_class=Response, openapi_extra=_BATCH_DOC)
    async def route_batch(request: Request) -> Response:
        """Route up to ``max_batch_texts`` queries: ``{"texts": [...]}`` -> ``{"results": [...], ...}``."""
        start = time.perf_counter()
        try:
            body = await read_body(request, max_body)
        except ApiError as exc:
            return error_response(exc.status, exc.kind, exc.detail, exc.headers)
        return _respond(await handlers.batch(body, start))

    @app.get("/health", response_class=Response)
    async def health() -> Response:
        """Liveness: 200 while the process runs."""
        return Response(_dumps({"status": "ok"}), 200, None, JSON_TYPE)

    @app.get("/ready", response_class=Response)
    async def ready() -> Response:
        """Readiness: 200 once the model is loaded and warmed up; 503 before, after a failure, and while draining."""
        body: dict[str, Any] = {"status": state.status, "model": state.model_name}
        if state.error:
            body["detail"] = state.error
        if state.ready:
            cfg = state.config
            body.update(
                routes=state.routes,
                batching=cfg.batching,
                max_batch=cfg.effective_max_batch,
                infer_batch_size=cfg.infer_batch_size or cfg.max_batch,
                max_wait_ms=cfg.effective_max_wait_s * 1000,
            )
            return Response(_dumps(body), 200, None, JSON_TYPE)
        return Response(_dumps(body), 503, state.retry_headers, JSON_TYPE)

    @app.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics (text format 0.0.4)."""
        return Response(state.metrics.render(), 200, None, CONTENT_TYPE)

    return app
