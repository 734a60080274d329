"""`router bench`: the HTTP runner (server as a child process), --find-max, in-process mode, the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from llm_router.bench.http import HttpBenchConfig, run_http_bench, step_passed
from llm_router.bench.inprocess import InprocessBenchConfig, run_inprocess_bench
from llm_router.cli import app
from llm_router.errors import RouterError
from llm_router.serve import ServeConfig

pytestmark = pytest.mark.timeout(120)


def test_http_bench_starts_a_server_and_reports_the_contract_keys(tmp_path):
    out = tmp_path / "b.json"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "--model",
            "fake:1",
            "--rps",
            "100",
            "--duration",
            "2",
            "--warmup",
            "0.5",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    for key in ("achieved_rps", "p50_ms", "p95_ms", "p99_ms", "max_ms", "errors", "config"):
        assert key in data
    assert data["errors"] == 0
    assert data["sent"] == 200
    assert data["p50_ms"] >= 1.0
    assert data["config"]["bench"]["model"] == "fake:1"
    assert "2 cores" in data["environment"]["note"] or "cores" in data["environment"]["note"]
    assert "achieved rate" in result.output


def test_find_max_brackets_the_capacity_of_a_known_server():
    # one inference at a time (no batching), 20 ms each: capacity 50 requests/s
    config = HttpBenchConfig(
        model="fake:20",
        serve=ServeConfig(batching=False, timeout_ms=5000, inference_workers=1),
        find_max=True,
        slo_ms=100,
        start_rps=20,
        step_duration_s=1.0,
        step_warmup_s=0.3,
        step_pause_s=0.2,
        refine_steps=1,
    )
    result = run_http_bench(config)
    assert result["max_rps"] is not None
    assert 20 <= result["max_rps"] < 80
    assert result["first_failing_rps"] > result["max_rps"]
    assert result["steps"][0]["target_rps"] == 20 and result["steps"][0]["passed"]
    assert any(not s["passed"] for s in result["steps"])
    assert {"achieved_rps", "p99_ms", "errors", "config", "environment"} <= set(result)


def test_step_passed_needs_slo_no_errors_and_the_rate():
    base = {"errors": 0, "p99_ms": 10.0, "achieved_rps": 99.0, "target_rps": 100}
    assert step_passed(base, 50)
    assert not step_passed(dict(base, p99_ms=60.0), 50)
    assert not step_passed(dict(base, errors=1), 50)
    assert not step_passed(dict(base, achieved_rps=80.0), 50)
    assert not step_passed(dict(base, p99_ms=None), 50)


def test_bench_needs_exactly_one_target():
    with pytest.raises(RouterError):
        HttpBenchConfig()
    with pytest.raises(RouterError):
        HttpBenchConfig(model="fake:0", url="http://127.0.0.1:8000")


def test_bench_refuses_a_remote_url():
    result = CliRunner().invoke(app, ["bench", "--url", "http://example.com:8000", "--duration", "1"])
    assert result.exit_code == 2
    assert "loopback" in result.output


def test_inprocess_bench_measures_latency_and_throughput():
    config = InprocessBenchConfig(
        model="fake:2,per_item_ms=0.5",
        thread_counts=[1],
        batch_sizes=[1, 8],
        latency_calls=20,
        seconds_per_batch_size=0.1,
        warmup_calls=2,
    )
    result = run_inprocess_bench(config)
    (lat,) = result["latency"]
    assert lat["threads"] == 1 and lat["device"] == "cpu"
    assert lat["p50_ms"] >= 2.5  # 2 ms + 0.5 ms per text
    sizes = {row["batch_size"]: row for row in result["throughput"]}
    assert set(sizes) == {1, 8}
    assert sizes[8]["texts_per_s"] > sizes[1]["texts_per_s"]  # batching amortises the fixed 2 ms
    assert sizes[8]["ms_per_batch"] >= 6.0


def test_bench_sends_the_bearer_token_to_a_protected_server_and_never_reports_it(tmp_path, monkeypatch):
    token = "bench-token-0123456789abcdef"
    monkeypatch.setenv("ROUTER_BENCH_TEST_KEY", token)
    out = tmp_path / "b.json"
    args = ["bench", "--model", "fake:1", "--rps", "50", "--duration", "1", "--warmup", "0.2"]
    result = CliRunner().invoke(app, [*args, "--api-key-env", "ROUTER_BENCH_TEST_KEY", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert (
        data["errors"] == 0 and data["sent"] == 50
    )  # the server requires the token: every request carried it
    assert data["config"]["bench"]["serve"]["api_key_env"] == "ROUTER_BENCH_TEST_KEY"
    assert token not in out.read_text() and token not in result.output


def test_bench_refuses_a_missing_token_before_starting_anything(monkeypatch):
    monkeypatch.delenv("ROUTER_BENCH_NO_SUCH_KEY", raising=False)
    result = CliRunner().invoke(
        app, ["bench", "--model", "fake:1", "--api-key-env", "ROUTER_BENCH_NO_SUCH_KEY"]
    )
    assert result.exit_code == 2 and "ROUTER_BENCH_NO_SUCH_KEY" in result.output


def test_split_keeps_only_the_texts_of_that_part_of_the_model_split(tmp_path):
    from llm_router.bench.http import load_texts
    from llm_router.persistence.split import write_split
    from llm_router.utils import text_hash

    data = tmp_path / "d.csv"
    data.write_text("text\nfirst query\nsecond  query\nthird query\n")
    folder = tmp_path / "model"
    folder.mkdir()
    write_split(folder, {"train": [text_hash("first query")], "test": [text_hash("second query")]})
    assert load_texts(data, split_of=(folder, "test")) == ["second  query"]  # hashed after normalising
    assert load_texts(data) == ["first query", "second  query", "third query"]
    with pytest.raises(RouterError, match="no 'val' part"):
        load_texts(data, split_of=(folder, "val"))
    write_split(folder, {"test": [text_hash("another file's text")]})
    with pytest.raises(RouterError, match="give the data it was trained on"):
        load_texts(data, split_of=(folder, "test"))


def test_split_needs_a_model_folder_and_a_known_part():
    with pytest.raises(RouterError, match="--split must be"):
        HttpBenchConfig(model="m", split="holdout")
    with pytest.raises(RouterError, match="--split must be"):
        InprocessBenchConfig(model="m", split="holdout")
    with pytest.raises(RouterError, match="--split needs --model"):
        HttpBenchConfig(url="http://127.0.0.1:8000", split="test")


def test_http_bench_refuses_a_missing_or_broken_model_before_starting_a_server(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "router.json").write_text("{not json")
    for model, message in ((tmp_path / "absent", "no such model"), (broken, "not valid JSON")):
        result = CliRunner().invoke(app, ["bench", "--model", str(model), "--duration", "1"])
        assert result.exit_code == 2 and message in result.output, result.output
        assert "starting router serve" not in result.output and "Traceback" not in result.output


def test_an_option_of_the_other_mode_is_refused_not_ignored():
    for args, flag in (
        (["--mode", "inprocess", "--rps", "50"], "--rps applies to --mode http only"),
        (
            ["--mode", "inprocess", "--find-max", "--slo-ms", "20"],
            "--find-max, --slo-ms apply to --mode http",
        ),
        (["--batch-sizes", "1,2"], "--batch-sizes applies to --mode inprocess only"),
    ):
        result = CliRunner().invoke(app, ["bench", "--model", "fake:1", *args])
        assert result.exit_code == 2 and flag in result.output, result.output
