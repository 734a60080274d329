"""`router serve --engine ray`: a local Ray instance on 127.0.0.1, two Ray Serve replicas of the same app, the
same routes and JSON as plain uvicorn (token included), then a clean shutdown. Slow (Ray starts in ~30 s), so
marked ``slow`` and ``ci``."""

from __future__ import annotations

import importlib.util

import httpx
import pytest

from llm_router.errors import RouterError
from llm_router.serve.config import ServeConfig
from llm_router.serve.ray_engine import RayServeOptions

TOKEN = "ray-test-token-0123456789abcdef"


def test_options_validation_and_autoscaling():
    assert RayServeOptions(replicas=2).deployment_options()["num_replicas"] == 2
    auto = RayServeOptions(min_replicas=1, max_replicas=3).deployment_options()["autoscaling_config"]
    assert auto["min_replicas"] == 1 and auto["max_replicas"] == 3
    for bad in ({"replicas": 0}, {"min_replicas": 3, "max_replicas": 2}, {"cpus_per_replica": 0}):
        with pytest.raises(RouterError):
            RayServeOptions(**bad)


@pytest.mark.slow
@pytest.mark.ci
@pytest.mark.timeout(300)
def test_two_ray_replicas_on_loopback_serve_the_same_api(monkeypatch):
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed (the `ray` extra)")
    from llm_router.serve.ray_engine import ray_server

    monkeypatch.setenv("ROUTER_RAY_TEST_KEY", TOKEN)
    config = ServeConfig(port=0, api_key_env="ROUTER_RAY_TEST_KEY", max_batch_texts=8)
    options = RayServeOptions(replicas=2, cpus_per_replica=0.5, num_cpus=2)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with ray_server("fake:1", config, options) as url:
        import ray
        from ray import serve

        assert url.startswith("http://127.0.0.1:")
        nodes = ray.nodes()
        assert [n["NodeManagerAddress"] for n in nodes] == ["127.0.0.1"]
        status = serve.status().applications["llm-router"].deployments["router"]
        assert status.replica_states == {"RUNNING": 2}

        assert httpx.get(url + "/health", timeout=10).status_code == 200
        assert httpx.get(url + "/ready", timeout=10).status_code == 401
        ready = httpx.get(url + "/ready", headers=auth, timeout=10)
        assert ready.status_code == 200 and ready.json()["routes"] == ["Claude", "gemini-mini", "gpt-o1"]
        assert httpx.post(url + "/route", json={"text": "hi"}, timeout=10).status_code == 401
        for i in range(10):
            resp = httpx.post(url + "/route", json={"text": f"query {i}"}, headers=auth, timeout=10)
            assert resp.status_code == 200
            assert set(resp.json()) == {
                "route",
                "confidence",
                "scores",
                "policy",
                "reason",
                "model",
                "latency_ms",
            }
        batch = httpx.post(url + "/route/batch", json={"texts": ["a", "b", "c"]}, headers=auth, timeout=10)
        assert batch.status_code == 200 and len(batch.json()["results"]) == 3
        bad = httpx.post(url + "/route", json={"text": " "}, headers=auth, timeout=10)
        assert bad.status_code == 422 and bad.json()["error"] == "empty_text"
        metrics = httpx.get(url + "/metrics", headers=auth, timeout=10)
        assert metrics.status_code == 200 and "router_requests_total" in metrics.text
    assert not ray.is_initialized()
