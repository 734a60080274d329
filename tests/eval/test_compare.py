"""`router compare`: one table, one run, the same test split - on tiny teacher / student / static folders."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "distill"))
from kd_fixtures import make_teacher_folder  # noqa: E402

from llm_router.errors import RouterError  # noqa: E402
from llm_router.eval.compare import (  # noqa: E402
    ROW_KEYS,
    CompareConfig,
    compare_models,
    count_parameters,
    pareto_front,
    parse_model_arg,
    served_files,
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from llm_router.distill.config import DistillConfig
    from llm_router.distill.distill import distill

    root = tmp_path_factory.mktemp("compare")
    teacher = make_teacher_folder(root, num_layers=4, train_steps=10)
    distill(teacher, root / "student", DistillConfig(student="layers:1", epochs=1, augment="", mix=0))
    distill(teacher, root / "static", DistillConfig(student="static", augment="", mix=0, static_pca_dims=8))
    return {"teacher": teacher, "student": root / "student", "static": root / "static"}


FAST = CompareConfig(threads=1, n_latency=15, warmup=2, min_throughput_texts=40)


def test_compare_rows_have_the_documented_keys(folders, tmp_path):
    models = [f"teacher={folders['teacher']}", f"student={folders['student']}", str(folders["static"])]
    rows = compare_models(models, FAST, progress=False)
    assert [r["model"] for r in rows] == ["teacher", "student", str(folders["static"])]
    for row in rows:
        assert set(ROW_KEYS) <= set(row)
        assert row["p99_ms"] >= row["p50_ms"] > 0 and row["throughput_b32"] > 0
        assert 0 <= row["macro_f1"] <= 1 and row["params"] > 0 and row["size_mb"] > 0
        assert row["n_test"] == rows[0]["n_test"] and row["threads"] == 1
    assert rows[0]["speedup"] == pytest.approx(1.0)
    assert rows[0]["agreement"] == 1.0  # the first model is the reference of the agreement column
    for row in rows[1:]:
        lo, hi = row["agreement_ci95"]
        assert 0 <= lo <= row["agreement"] <= hi <= 1
    # the agreement is measured against the first model's routes: recompute it for the static model
    from llm_router.persistence import load_folder_data
    from llm_router.runtime import Predictor

    test = list(load_folder_data(folders["teacher"]).test["text"])
    first = Predictor.load(folders["teacher"], threads=1).predict(test).routes
    last = Predictor.load(folders["static"], threads=1).predict(test).routes
    assert rows[2]["agreement"] == pytest.approx(
        sum(a == b for a, b in zip(first, last, strict=True)) / len(test)
    )
    assert [r["kind"] for r in rows] == ["hf", "hf", "static"]
    # The 1-layer student has fewer parameters than the 4-layer teacher; the static one the fewest of all.
    assert rows[2]["params"] < rows[1]["params"] < rows[0]["params"]
    json.dumps(rows)  # JSON-ready


def test_compare_cli_writes_json_and_pareto_png(folders, tmp_path):
    from typer.testing import CliRunner

    from llm_router.cli import app

    out = tmp_path / "cmp.json"
    result = CliRunner().invoke(
        app,
        [
            "compare",
            "--models",
            str(folders["teacher"]),
            str(folders["static"]),
            "--threads",
            "1",
            "--n-latency",
            "10",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert len(rows) == 2 and set(ROW_KEYS) <= set(rows[0])
    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the comma-separated list `router cascade --levels` takes works here too
    comma = tmp_path / "comma.json"
    models = f"{folders['teacher']},static={folders['static']}"
    args = ["compare", models, "--threads", "1", "--n-latency", "10", "--json", str(comma)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [row["model"] for row in json.loads(comma.read_text())][1] == "static"


def test_compare_refuses_models_with_different_test_splits(folders, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(folders["student"], other)
    split = json.loads((other / "split.json").read_text())
    split["test"] = split["test"][:-1]
    (other / "split.json").write_text(json.dumps(split))
    with pytest.raises(RouterError, match="different test split"):
        compare_models([str(folders["teacher"]), str(other)], FAST, progress=False)


def test_parameters_and_served_files(folders):
    from safetensors.torch import load_file

    from llm_router.persistence import read_router_info

    folder, info = read_router_info(folders["student"])
    state = load_file(str(folder / "model.safetensors"))
    assert count_parameters(folder, info) == sum(v.numel() for v in state.values())
    names = {p.name for p in served_files(folder, info)}
    assert {"model.safetensors", "tokenizer.json", "config.json"} <= names
    assert "metrics.json" not in names and "history.json" not in names
    folder, info = read_router_info(folders["static"])
    assert "head.npz" in {p.name for p in served_files(folder, info)}


def test_pareto_front_and_model_names():
    rows = [
        {"model": "a", "p99_ms": 50.0, "macro_f1": 0.9},
        {"model": "b", "p99_ms": 2.0, "macro_f1": 0.85},
        {"model": "c", "p99_ms": 3.0, "macro_f1": 0.80},  # dominated by b
        {"model": "d", "p99_ms": 0.2, "macro_f1": 0.6},
    ]
    assert [r["model"] for r in pareto_front(rows)] == ["d", "b", "a"]
    assert parse_model_arg("int8=runs/student-onnx") == ("int8", Path("runs/student-onnx"))
    assert parse_model_arg("runs/student") == ("runs/student", Path("runs/student"))
