"""benchmarks/token_cost.py: batch-1 cost as a fixed part and a part per token, on a tiny INT8 ONNX folder."""

import json

from benchmark_scripts import load_benchmark


def test_the_line_through_exact_timings_is_recovered():
    token_cost = load_benchmark("token_cost")
    fixed, per_token = token_cost.fit_line([4, 8, 16, 32], [1.5 + 0.25 * n for n in (4, 8, 16, 32)])
    assert abs(fixed - 1.5) < 1e-9 and abs(per_token - 0.25) < 1e-9


def test_a_folder_is_timed_at_each_length_and_on_its_split(tiny_onnx_dir, tmp_path):
    token_cost = load_benchmark("token_cost")
    out = tmp_path / "cost.json"
    code = token_cost.main(
        [
            str(tiny_onnx_dir),
            "--split",
            "test",
            "--lengths",
            "2,4,8,1000",
            "--repeats",
            "5",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    (row,) = result["models"]
    # 1000 is capped at the folder's max_length; every count is timed once
    assert list(row["ms_at_tokens"]) == ["2", "4", "8", str(row["max_length"])]
    assert all(ms > 0 for ms in row["ms_at_tokens"].values())
    assert row["n_texts"] > 0 and row["n_timed"] >= row["n_texts"]
    assert 1 <= row["tokens"]["p50"] <= row["tokens"]["p99"] <= row["max_length"]
    assert row["measured_ms"]["p50"] > 0 and row["predicted_ms"]["p50"] > 0
    assert result["split"] == "test" and "cores" in result["machine"]
    assert "profile" not in row  # only with --profile-tokens


def test_the_profile_names_the_quantised_matmuls(tiny_onnx_dir):
    token_cost = load_benchmark("token_cost")
    from llm_router.persistence import read_router_info
    from llm_router.runtime.onnx_backend import OnnxPredictor

    source, info = read_router_info(tiny_onnx_dir)
    profile = token_cost.profile_ops(OnnxPredictor(source, info, threads=1), tokens=4, threads=1, calls=3)
    assert profile and all(v["us_per_call"] >= 0 and v["nodes"] >= 1 for v in profile.values())
    times = [v["us_per_call"] for v in profile.values()]
    assert times == sorted(times, reverse=True)
    # the served file is dynamic INT8: its MatMuls run as integer kernels
    assert any("Integer" in op or "Quantize" in op for op in profile)


def test_synthetic_inputs_have_the_asked_length(tiny_onnx_dir):
    token_cost = load_benchmark("token_cost")
    from llm_router.persistence import read_router_info
    from llm_router.runtime.onnx_backend import OnnxPredictor

    source, info = read_router_info(tiny_onnx_dir)
    predictor = OnnxPredictor(source, info, threads=1)
    for n in (2, 3, 7):
        feeds = token_cost.synthetic_feeds(predictor, n)
        assert feeds["input_ids"].shape == (1, n) and feeds["attention_mask"].sum() == n


def test_a_bad_length_list_is_one_line_and_exit_2(tiny_onnx_dir, capsys):
    token_cost = load_benchmark("token_cost")
    assert token_cost.main([str(tiny_onnx_dir), "--lengths", "1,4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --lengths") and err.count("\n") == 1
