"""The server reports which policy rule decided each route and counts decisions per route and rule."""

import shutil

import httpx
import pytest
from serve_helpers import running

from llm_router.runtime import Predictor
from llm_router.runtime.policy import Policy, write_policy

pytestmark = pytest.mark.timeout(120)


def test_route_reports_the_policy_and_metrics_count_decisions(tiny_classifier_dir, tmp_path):
    model = shutil.copytree(tiny_classifier_dir, tmp_path / "model")
    # nothing is 100% sure: every query takes the fallback route, decided by the threshold rule
    write_policy(model, Policy(rule="threshold", default_min_confidence=1.0, fallback="gpt-o1"))
    with running(Predictor.load(model, threads=1), max_batch=8) as state:
        one = httpx.post(state.base_url + "/route", json={"text": "write a poem about the sea"}).json()
        assert one["route"] == "gpt-o1" and one["policy"] == "threshold"
        assert "fallback" in one["reason"]
        assert {"confidence", "scores", "model", "latency_ms"} <= set(one)
        batch = httpx.post(
            state.base_url + "/route/batch", json={"texts": ["hi friend", "solve 2x = 4"]}
        ).json()
        assert [r["policy"] for r in batch["results"]] == ["threshold", "threshold"]
        metrics = httpx.get(state.base_url + "/metrics").text
    assert 'router_decisions_total{route="gpt-o1",policy="threshold"} 3' in metrics


def test_fake_model_without_policy_counts_argmax(fake_server):
    body = httpx.post(fake_server.base_url + "/route", json={"text": "hello"}).json()
    metrics = httpx.get(fake_server.base_url + "/metrics").text
    assert f'router_decisions_total{{route="{body["route"]}",policy="argmax"}} 1' in metrics
