"""The HTTP contract of `router serve`, against a real uvicorn server on loopback with a fake model."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from serve_helpers import running, wait_ready

from llm_router.serve import FakePredictor

pytestmark = pytest.mark.timeout(60)


def test_route_returns_route_confidence_and_scores(fake_server):
    resp = httpx.post(fake_server.base_url + "/route", json={"text": "write a haiku about autumn"})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"route", "confidence", "scores", "policy", "reason", "model", "latency_ms"}
    assert (body["policy"], body["reason"]) == ("argmax", "highest probability")
    assert set(body["scores"]) == {"Claude", "gemini-mini", "gpt-o1"}
    assert sum(body["scores"].values()) == pytest.approx(1.0)
    assert body["route"] == max(body["scores"], key=body["scores"].get)
    assert body["confidence"] == pytest.approx(max(body["scores"].values()))
    assert body["model"] == "fake:0ms"
    assert body["latency_ms"] >= 0
    expected = FakePredictor().scores("write a haiku about autumn")
    assert [body["scores"][r] for r in ("Claude", "gemini-mini", "gpt-o1")] == pytest.approx(expected)


def test_batch_endpoint_matches_single_requests(fake_server):
    texts = ["hello there", "solve 2x + 3 = 7", "draft an email to my landlord"]
    resp = httpx.post(fake_server.base_url + "/route/batch", json={"texts": texts})
    assert resp.status_code == 200
    results = resp.json()["results"]
    assert len(results) == 3
    for text, result in zip(texts, results, strict=True):
        single = httpx.post(fake_server.base_url + "/route", json={"text": text}).json()
        assert result["route"] == single["route"]
        assert result["scores"] == pytest.approx(single["scores"])


BAD_REQUESTS = [
    # (name, path, raw body or json, expected status, expected error kind)
    ("empty text", "/route", {"text": ""}, 422, "empty_text"),
    ("whitespace text", "/route", {"text": " \t\n "}, 422, "empty_text"),
    ("missing field", "/route", {"query": "hi"}, 422, "invalid_field"),
    ("null text", "/route", {"text": None}, 422, "invalid_field"),
    ("number text", "/route", {"text": 42}, 422, "invalid_field"),
    ("list text", "/route", {"text": ["a"]}, 422, "invalid_field"),
    ("json array body", "/route", b'["hi"]', 400, "invalid_json"),
    ("malformed json", "/route", b'{"text": "hi"', 400, "invalid_json"),
    ("empty body", "/route", b"", 400, "invalid_json"),
    ("non-utf8 body", "/route", b'{"text": "caf\xe9"}', 400, "invalid_encoding"),
    ("lone surrogate escape", "/route", b'{"text": "\\ud800"}', 400, "invalid_json"),
    ("huge body", "/route", {"text": "x" * 10_000}, 413, "body_too_large"),
    ("batch not a list", "/route/batch", {"texts": "hi"}, 422, "invalid_field"),
    ("batch missing", "/route/batch", {}, 422, "invalid_field"),
    ("batch empty", "/route/batch", {"texts": []}, 422, "empty_batch"),
    ("batch too large", "/route/batch", {"texts": ["hi"] * 9}, 413, "batch_too_large"),
    ("batch with a number", "/route/batch", {"texts": ["hi", 3]}, 422, "invalid_field"),
    ("batch with blank", "/route/batch", {"texts": ["hi", "  "]}, 422, "empty_text"),
]


@pytest.mark.parametrize(
    ("name", "path", "body", "status", "kind"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS]
)
def test_bad_input_gets_its_status_and_a_json_error(fake_server, name, path, body, status, kind):
    url = fake_server.base_url + path
    resp = httpx.post(url, content=body) if isinstance(body, bytes) else httpx.post(url, json=body)
    assert resp.status_code == status, resp.text
    err = resp.json()
    assert err["error"] == kind
    assert isinstance(err["detail"], str) and err["detail"]
    # ... and the server keeps serving
    ok = httpx.post(fake_server.base_url + "/route", json={"text": "still there?"})
    assert ok.status_code == 200


def test_chunked_body_over_the_limit_gets_413(fake_server):
    def chunks():
        for _ in range(10):
            yield b"x" * 1000

    resp = httpx.post(fake_server.base_url + "/route", content=chunks())
    assert resp.status_code == 413
    assert httpx.get(fake_server.base_url + "/health").status_code == 200


def test_wrong_method_and_unknown_path_are_json_4xx(fake_server):
    resp = httpx.get(fake_server.base_url + "/route")
    assert resp.status_code == 405 and resp.json()["error"] == "method_not_allowed"
    resp = httpx.get(fake_server.base_url + "/nope")
    assert resp.status_code == 404 and resp.json()["error"] == "not_found"


def test_long_text_is_cut_before_the_model():
    seen: list[str] = []

    class Recording(FakePredictor):
        def predict(self, texts, batch_size=64):
            seen.extend(texts)
            return super().predict(texts, batch_size)

    with running(Recording(), max_text_chars=50) as state:
        resp = httpx.post(state.base_url + "/route", json={"text": "word " * 1000})
        assert resp.status_code == 200
    assert [len(t) for t in seen if t.startswith("word")] == [50]


def test_ready_is_503_until_warm_up_finishes():
    with running(FakePredictor(0, warmup_s=1.5), wait=False) as state:
        base = state.base_url
        resp = httpx.get(base + "/ready")
        assert resp.status_code == 503
        assert resp.headers["retry-after"] == "1"
        assert resp.json()["status"] == "loading"
        assert httpx.get(base + "/health").status_code == 200
        early = httpx.post(base + "/route", json={"text": "too early"})
        assert early.status_code == 503 and early.json()["error"] == "not_ready"

        wait_ready(base)
        assert state.predictor.warmed_up
        assert httpx.post(base + "/route", json={"text": "now"}).status_code == 200


def test_failed_model_load_reports_failed():
    def broken_loader():
        raise FileNotFoundError("no weights here")

    with running(broken_loader, wait=False) as state:
        for _ in range(200):
            if state.status == "failed":
                break
            asyncio.run(asyncio.sleep(0.01))
        assert state.status == "failed"
        assert "no weights here" in state.error


async def _burst(url: str, n: int, text: str = "burst") -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        return await asyncio.gather(*(client.post(url, json={"text": f"{text} {i}"}) for i in range(n)))


def test_burst_far_above_capacity_gets_429_and_no_other_5xx():
    # capacity: 4 texts per 50 ms inference; the queue holds 8 texts; 120 requests arrive at once
    with running(FakePredictor(50), max_batch=4, max_queue=8, timeout_ms=10_000) as state:
        responses = asyncio.run(_burst(state.base_url + "/route", 120))
        statuses = [r.status_code for r in responses]
        assert statuses.count(429) > 0
        assert statuses.count(200) > 0
        assert set(statuses) <= {200, 429}
        rejected = next(r for r in responses if r.status_code == 429)
        assert rejected.headers["retry-after"] == "1"
        assert rejected.json()["error"] == "overloaded"
        assert httpx.get(state.base_url + "/health").status_code == 200
        assert httpx.post(state.base_url + "/route", json={"text": "after the burst"}).status_code == 200
        metrics = httpx.get(state.base_url + "/metrics").text
        assert 'router_rejected_total{reason="queue_full"}' in metrics


def test_overload_is_shed_at_arrival_with_429_instead_of_expiring_in_the_queue():
    # capacity: 4 texts per 50 ms inference = 80 texts/s; a 300 ms deadline holds about 24 texts ahead
    with running(FakePredictor(50), max_batch=4, timeout_ms=300) as state:
        assert httpx.post(state.base_url + "/route", json={"text": "measure the rate"}).status_code == 200
        statuses = [r.status_code for r in asyncio.run(_burst(state.base_url + "/route", 120))]
        assert statuses.count(429) > 0 and statuses.count(200) > 0
        assert statuses.count(503) <= statuses.count(200) / 4  # admitted requests are answered in time
        assert 'router_rejected_total{reason="admission"}' in httpx.get(state.base_url + "/metrics").text


def test_request_past_its_deadline_gets_503():
    with running(FakePredictor(400), timeout_ms=100) as state:
        resp = httpx.post(state.base_url + "/route", json={"text": "slow"}, timeout=10)
        assert resp.status_code == 503
        assert resp.json()["error"] == "deadline_exceeded"
        assert httpx.get(state.base_url + "/health").status_code == 200


def test_concurrent_requests_share_inferences():
    fake = FakePredictor(30)
    with running(fake, max_batch=8, max_wait_ms=5) as state:
        before = fake.calls
        responses = asyncio.run(_burst(state.base_url + "/route", 24))
        assert all(r.status_code == 200 for r in responses)
        calls = fake.calls - before
        assert calls <= 12  # 24 requests, at most 8 per inference: far fewer calls than requests
        assert fake.texts_seen >= 24
        metrics = httpx.get(state.base_url + "/metrics").text
        assert 'router_batch_size_bucket{le="1"}' in metrics
        count_line = next(ln for ln in metrics.splitlines() if ln.startswith("router_batch_size_count"))
        assert int(count_line.split()[-1]) == calls


def test_without_batching_each_request_is_one_inference():
    fake = FakePredictor(5)
    with running(fake, batching=False) as state:
        before = fake.calls
        responses = asyncio.run(_burst(state.base_url + "/route", 10))
        assert all(r.status_code == 200 for r in responses)
        assert fake.calls - before == 10


def test_a_lone_request_does_not_wait_for_a_full_batch():
    fake = FakePredictor(0)
    with running(fake, max_batch=32, max_wait_ms=20, adaptive_wait=False) as state:
        resp = httpx.post(state.base_url + "/route", json={"text": "alone"})
        assert resp.status_code == 200
        metrics = httpx.get(state.base_url + "/metrics").text
        assert 'router_batch_size_bucket{le="1"} 1' in metrics


def test_a_text_that_breaks_the_model_fails_alone():
    fake = FakePredictor(30, fail_on="BOOM")
    with running(fake, max_batch=8, max_wait_ms=20, adaptive_wait=False) as state:

        async def mixed():
            async with httpx.AsyncClient(timeout=30) as client:
                return await asyncio.gather(
                    *(
                        client.post(state.base_url + "/route", json={"text": t})
                        for t in ("ok 1", "BOOM", "ok 2")
                    )
                )

        ok1, boom, ok2 = asyncio.run(mixed())
        assert ok1.status_code == 200 and ok2.status_code == 200
        assert boom.status_code == 500 and boom.json()["error"] == "inference_failed"


def test_metrics_are_prometheus_text(fake_server):
    for _ in range(3):
        httpx.post(fake_server.base_url + "/route", json={"text": "count me"})
    httpx.post(fake_server.base_url + "/route", json={"text": ""})
    resp = httpx.get(fake_server.base_url + "/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    assert 'router_requests_total{endpoint="/route",status="200"} 3' in text
    assert 'router_requests_total{endpoint="/route",status="422"} 1' in text
    assert "# TYPE router_request_latency_seconds histogram" in text
    assert 'router_request_latency_seconds_bucket{endpoint="/route",le="+Inf"} 4' in text
    assert "router_queue_depth 0" in text
    assert "router_cascade_answered_total" not in text  # a cascade's counters only
    for line in text.splitlines():
        assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2


def test_brownout_is_checked_and_ignored_for_a_model_that_is_not_a_cascade(caplog):
    from llm_router.errors import RouterError
    from llm_router.serve import ServeConfig, serve_in_thread

    with pytest.raises(RouterError, match="brownout_ms"):
        ServeConfig(brownout_ms=0)
    with serve_in_thread(FakePredictor(0), ServeConfig(port=0, brownout_ms=5.0), wait_ready=True) as state:
        assert httpx.post(state.base_url + "/route", json={"text": "hi"}).status_code == 200
        assert state.batcher.degrade_after_s is None
    assert "--brownout-ms ignored" in caplog.text
