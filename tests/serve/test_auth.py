"""Bearer-token access control: 401 without or with a wrong token, 200 with the right one, /health open,
/metrics open or closed, and `router serve` refusing a non-loopback host without a token (exit 2)."""

from __future__ import annotations

import httpx
import pytest
from serve_helpers import running
from typer.testing import CliRunner

from llm_router.cli import app
from llm_router.errors import RouterError
from llm_router.serve import FakePredictor
from llm_router.serve.auth import check_exposure, is_loopback, read_token

pytestmark = pytest.mark.timeout(60)
TOKEN = "s3cret-token-for-tests-0123456789"
ENV = "ROUTER_TEST_API_KEY"


@pytest.fixture
def protected(monkeypatch):
    monkeypatch.setenv(ENV, TOKEN)
    with running(FakePredictor(0.0), api_key_env=ENV) as state:
        yield state


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("POST", "/route", {"text": "hi"}), ("POST", "/route/batch", {"texts": ["a", "b"]}), ("GET", "/ready", None),
     ("GET", "/metrics", None), ("GET", "/docs", None), ("GET", "/nowhere", None)],
)  # fmt: skip
def test_every_route_but_health_needs_the_token(protected, method, path, body):
    url = protected.base_url + path
    missing = httpx.request(method, url, json=body)
    assert missing.status_code == 401
    assert missing.json()["error"] == "unauthorized"
    assert missing.headers["www-authenticate"] == "Bearer"
    for bad in (_auth("wrong"), _auth(TOKEN + "x"), {"Authorization": TOKEN}, {"Authorization": "Basic abc"}):
        assert httpx.request(method, url, json=body, headers=bad).status_code == 401
    good = httpx.request(method, url, json=body, headers=_auth(TOKEN))
    assert good.status_code == (404 if path == "/nowhere" else 200)


def test_health_stays_open_and_refusals_are_counted(protected):
    assert httpx.get(protected.base_url + "/health").status_code == 200
    httpx.post(protected.base_url + "/route", json={"text": "hi"})
    metrics = httpx.get(protected.base_url + "/metrics", headers=_auth(TOKEN)).text
    assert 'router_requests_total{endpoint="/route",status="401"} 1' in metrics


def test_open_metrics_leaves_only_metrics_and_health_open(monkeypatch):
    monkeypatch.setenv(ENV, TOKEN)
    with running(FakePredictor(0.0), api_key_env=ENV, open_metrics=True) as state:
        assert httpx.get(state.base_url + "/metrics").status_code == 200
        assert httpx.post(state.base_url + "/route", json={"text": "hi"}).status_code == 401


def test_no_token_configured_means_open(fake_server):
    assert httpx.post(fake_server.base_url + "/route", json={"text": "hi"}).status_code == 200


def test_token_checks(monkeypatch):
    monkeypatch.setenv(ENV, TOKEN)
    assert read_token(ENV) == TOKEN
    for value in ("", "   ", "short", "has a space in the middle of it", "ünïcode-token-0123456789"):
        monkeypatch.setenv(ENV, value)
        with pytest.raises(RouterError):
            read_token(ENV)
    monkeypatch.delenv(ENV)
    with pytest.raises(RouterError, match="not set"):
        read_token(ENV)


def test_exposure_rule():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.2") and not is_loopback("example.com")
    check_exposure("127.0.0.1", None, False)
    check_exposure("0.0.0.0", "ENV", False)
    check_exposure("0.0.0.0", None, True)
    with pytest.raises(RouterError, match="non-loopback"):
        check_exposure("0.0.0.0", None, False)


def test_cli_refuses_public_host_without_token():
    result = CliRunner().invoke(app, ["serve", "--model", "fake:0", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to serve on non-loopback host" in result.output
    assert "Traceback" not in result.output


def test_cli_refuses_missing_token_variable(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    result = CliRunner().invoke(app, ["serve", "--model", "fake:0", "--api-key-env", ENV])
    assert result.exit_code == 2
    assert "not set or empty" in result.output
