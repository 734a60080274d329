"""Access control for `router serve`: an optional bearer token, and the refusal to expose an open server.

With ``--api-key-env NAME`` the server reads its token from the environment variable ``NAME`` (never from the
command line, where ``ps`` would show it) and every request except ``GET /health`` must carry
``Authorization: Bearer <token>``; ``/metrics`` too unless ``--open-metrics``. The comparison is
:func:`hmac.compare_digest` (constant time). A refused request gets 401 ``{"error": "unauthorized"}`` with
``WWW-Authenticate: Bearer`` and is counted in ``router_requests_total``.

:class:`BearerAuthMiddleware` is plain ASGI and sits outermost, in front of the fast path, so the check costs one
scan of the request headers and one digest comparison per request, and nothing unauthenticated reaches the body
parser or the batcher.

:func:`check_exposure` is the start-up rule: a non-loopback ``--host`` without a token is refused (exit 2) unless
``--insecure`` says so explicitly.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time

from llm_router.errors import RouterError

OPEN_PATHS = frozenset({"/health"})
_UNAUTHORIZED = b'{"error":"unauthorized","detail":"missing or invalid bearer token"}'
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_UNAUTHORIZED)).encode("ascii")),
    (b"www-authenticate", b"Bearer"),
]


def read_token(env_name: str) -> str:
    """The token held by the environment variable ``env_name``; a missing, empty or non-ASCII one is an error."""
    if not env_name or not env_name.strip():
        raise RouterError("--api-key-env needs the name of an environment variable")
    token = os.environ.get(env_name, "")
    if not token.strip():
        raise RouterError(f"--api-key-env {env_name}: the environment variable is not set or empty")
    if not token.isascii() or any(c.isspace() for c in token):
        raise RouterError(f"--api-key-env {env_name}: the token must be ASCII without spaces")
    if len(token) < 16:
        raise RouterError(f"--api-key-env {env_name}: the token is shorter than 16 characters")
    return token


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 and ::1 are loopback; any other name or address (0.0.0.0 included) is not."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, api_key_env: str | None, insecure: bool) -> None:
    """Refuse to listen on a non-loopback ``host`` without a token, unless ``insecure``."""
    if api_key_env or insecure or is_loopback(host):
        return
    raise RouterError(
        f"refusing to serve on non-loopback host {host!r} without a token: "
        "set --api-key-env NAME (recommended) or pass --insecure"
    )


class BearerAuthMiddleware:
    """Pure ASGI: lets ``/health`` (and ``/metrics`` when ``open_metrics``) through, otherwise requires the
    bearer token; refused requests are answered here with 401 and recorded in ``metrics`` (if given)."""

    def __init__(self, app, token: str, open_metrics: bool = False, metrics=None):
        self.app = app
        self.expected = b"Bearer " + token.encode("ascii")
        self.open_paths = OPEN_PATHS | ({"/metrics"} if open_metrics else set())
        self.metrics = metrics

    def authorized(self, scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                return hmac.compare_digest(value, self.expected)
        return False

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in self.open_paths or self.authorized(scope):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        await send({"type": "http.response.start", "status": 401, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": _UNAUTHORIZED})
        if self.metrics is not None:
            self.metrics.observe_request(scope["path"], 401, time.perf_counter() - start)
