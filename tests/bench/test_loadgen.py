"""The open-loop load generator, checked against servers whose cost is known."""

from __future__ import annotations

import pytest

from llm_router.bench.loadgen import LoadConfig, check_loopback_url, free_port, run_in_subprocess, run_load
from llm_router.errors import RouterError
from llm_router.serve import FakePredictor, ServeConfig, serve_in_thread

pytestmark = pytest.mark.timeout(60)
TEXTS = ["write a poem about rain", "solve x^2 = 9", "hi there", "translate good night into French"]


def serving(predictor, **config):
    config.setdefault("port", 0)
    config.setdefault("drain_timeout_s", 5.0)
    return serve_in_thread(predictor, ServeConfig(**config), wait_ready=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/route",
        "http://10.0.0.1:8000/route",
        "http://192.168.1.5/route",
        "https://127.0.0.1/route",
    ],
)
def test_non_loopback_targets_are_refused(url):
    with pytest.raises(RouterError):
        check_loopback_url(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000/route", ("127.0.0.1", 8000, "/route")),
        ("http://localhost:9000", ("127.0.0.1", 9000, "/route")),
        ("http://[::1]:8000/route/batch", ("::1", 8000, "/route/batch")),
        ("http://127.0.0.2/x?y=1", ("127.0.0.2", 80, "/x?y=1")),
    ],
)
def test_loopback_targets_are_parsed(url, expected):
    assert check_loopback_url(url) == expected


def test_latency_against_a_fixed_20ms_server_is_20ms_not_less():
    # four inference threads and no batching: every request costs exactly its own 20 ms sleep, no queueing
    with serving(FakePredictor(20), batching=False, inference_workers=4) as state:
        result = run_in_subprocess(
            LoadConfig(url=state.base_url + "/route", rps=50, duration_s=3, warmup_s=0.5, texts=TEXTS)
        )
    assert result["errors"] == 0
    assert result["sent"] == 150  # 50/s for 3 s, on schedule
    assert result["achieved_rps"] == pytest.approx(50, rel=0.1)
    assert 20.0 <= result["p50_ms"] <= 30.0  # the known delay plus a little HTTP; never below it
    assert result["min_ms"] >= 20.0
    assert result["status_counts"] == {"200": 150}


def test_a_stall_shows_in_the_open_loop_tail():
    # 2 ms per inference, except one inference that takes 500 ms. At 100 requests/s, ~50 requests are
    # scheduled during the stall; an open-loop client charges each of them the time it waited, so p99 is
    # hundreds of ms. A closed-loop client would have stopped sending and recorded one slow request.
    fake = FakePredictor(2, stall_at=80, stall_ms=500)  # the warm-up sends ~50 requests: <= 50 inferences
    # admission control off: the stall drops the measured inference rate, and the server would then refuse
    # some of the requests queued behind it with 429 (right for a server, but this test is about the client)
    # one inference thread: with two, the requests would flow past the stall through the other one
    with serving(fake, max_batch=32, timeout_ms=5000, admission=False, inference_workers=1) as state:
        result = run_in_subprocess(
            LoadConfig(url=state.base_url + "/route", rps=100, duration_s=3, warmup_s=0.5, texts=TEXTS)
        )
    assert result["errors"] == 0
    assert result["max_ms"] >= 450
    assert result["p99_ms"] >= 300
    assert result["p50_ms"] < 100
    # at least ~40 requests (of 300) waited behind the stall
    assert result["p90_ms"] >= 10 or result["p95_ms"] >= 100


def test_poisson_arrivals_keep_the_mean_rate():
    with serving(FakePredictor(0)) as state:
        result = run_load(
            LoadConfig(
                url=state.base_url + "/route",
                rps=200,
                duration_s=2,
                warmup_s=0.2,
                arrival="poisson",
                texts=TEXTS,
            )
        )
    assert result["errors"] == 0
    assert 300 <= result["sent"] <= 500  # 400 expected


def test_rejections_are_counted_by_status():
    with serving(FakePredictor(50), max_batch=1, max_queue=2, timeout_ms=5000) as state:
        result = run_load(
            LoadConfig(url=state.base_url + "/route", rps=200, duration_s=1, warmup_s=0, texts=TEXTS)
        )
    assert result["errors_by_type"].get("429", 0) > 0
    assert result["errors"] == sum(result["errors_by_type"].values())
    assert result["ok"] + result["errors"] == result["sent"]


def test_an_absent_server_is_an_error():
    with pytest.raises(RouterError, match="cannot connect"):
        run_load(LoadConfig(url=f"http://127.0.0.1:{free_port()}/route", rps=10, duration_s=0.2, warmup_s=0))
