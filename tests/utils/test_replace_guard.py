"""Bad output paths and corrupted folders lose nothing and get one line: `check_replaceable` (an output that is a
file, an unrelated folder, or the input itself), unreadable router.json, a cascade that lists itself, a NaN cost,
and an OSError under any command."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from llm_router.cli import app
from llm_router.errors import RouterError
from llm_router.persistence import read_router_info
from llm_router.utils import atomic_output_dir
from llm_router.utils.files import check_replaceable


def test_an_output_that_is_a_file_or_an_unrelated_folder_is_refused_and_kept(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(RouterError, match="not a folder"):
        check_replaceable(afile)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    with pytest.raises(RouterError, match="holds no router.json"), atomic_output_dir(victim) as tmp:
        (tmp / "router.json").write_text("{}")
    assert (victim / "keep.txt").read_text() == "mine" and afile.read_text() == "x"
    assert not list(tmp_path.glob(".victim*"))  # refused before any temporary folder


def test_the_inputs_folder_or_one_above_it_is_refused(tmp_path):
    model = tmp_path / "run" / "model"
    model.mkdir(parents=True)
    (model / "router.json").write_text("{}")
    with pytest.raises(RouterError, match="replace the input"):
        check_replaceable(model, keep=[model])
    with pytest.raises(RouterError, match="replace the input"):
        check_replaceable(tmp_path / "run", marker="router.json", keep=[model / "router.json"])


def test_an_artefact_folder_or_an_empty_one_may_be_replaced(tmp_path):
    previous = tmp_path / "previous"
    previous.mkdir()
    (previous / "router.json").write_text("{}")
    (tmp_path / "empty").mkdir()
    for out in (previous, tmp_path / "empty", tmp_path / "new"):
        with atomic_output_dir(out) as tmp:
            (tmp / "router.json").write_text('{"new": true}')
        assert json.loads((out / "router.json").read_text()) == {"new": True}


@pytest.mark.parametrize("content", ["[]", '"x"', '{"labels": 5}'])
def test_a_router_json_of_the_wrong_shape_is_one_error(tmp_path, content):
    (tmp_path / "router.json").write_text(content)
    with pytest.raises(RouterError, match="router.json"):
        read_router_info(tmp_path)


def test_a_cascade_that_lists_itself_is_refused_without_recursing(tmp_path):
    from llm_router.runtime import Predictor

    folder = tmp_path / "casc"
    folder.mkdir()
    raw = {"kind": "cascade", "labels": ["a", "b"], "routes": ["a", "b"]}
    raw["levels"] = [
        {"name": "self", "path": "../casc", "threshold": 0.5},
        {"name": "end", "path": "../casc"},
    ]
    (folder / "router.json").write_text(json.dumps(raw))
    with pytest.raises(RouterError, match="itself a cascade"):
        Predictor.load(folder)


def test_a_cost_that_is_not_a_number_is_refused():
    from llm_router.runtime.policy import Policy

    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(RouterError, match="non-negative number"):
            Policy(rule="cost", costs={"a": bad, "b": 1.0})


def test_an_unwritable_json_path_is_one_line_not_a_traceback(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("text,label\nhello there,a\nwrite code,b\n")
    result = CliRunner().invoke(app, ["analyze", "--data", str(data), "--json", str(tmp_path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "error" in result.output


@pytest.mark.parametrize(
    "field, value",
    [
        ("bench_rps", float("nan")),
        ("bench_rps", 0.0),
        ("bench_duration", -1.0),
        ("cascade_target", 2.0),
        ("threads", 0),
        ("sample", 0),
        ("student_epochs", 0),
        ("student", "layers:0"),
        ("route_map", "auto"),
    ],
)
def test_the_pipeline_refuses_bad_numbers_before_any_stage(tmp_path, field, value):
    from llm_router.pipeline import PipelineConfig, run_pipeline

    cfg = PipelineConfig(out=str(tmp_path / "run"), **{field: value})
    with pytest.raises(RouterError):
        run_pipeline(cfg, until="analyze")
    assert not (tmp_path / "run" / "analysis.json").exists()


def test_a_json_file_that_is_not_json_is_one_error_and_still_a_value_error(tmp_path):
    from llm_router.utils import read_json

    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(RouterError, match="not valid JSON"):
        read_json(bad)
    with pytest.raises(ValueError):
        read_json(bad)


def test_bench_refuses_nan(tmp_path):
    from llm_router.bench.http import HttpBenchConfig

    for field in ("duration_s", "warmup_s", "slo_ms", "start_rps"):
        with pytest.raises(RouterError, match="must be numbers"):
            HttpBenchConfig(model="fake:1", **{field: float("nan")})


def test_more_bad_options_are_one_line_errors():
    from llm_router.distill.config import DistillConfig
    from llm_router.eval.compare import CompareConfig
    from llm_router.serve.config import ServeConfig
    from llm_router.train.config import TrainConfig

    for bad in ({"static_pca_dims": 0}, {"max_length": 0}, {"threads": 0}, {"warmup_ratio": 2.0}):
        with pytest.raises(RouterError):
            DistillConfig(**bad)
    with pytest.raises(RouterError):
        CompareConfig(n_latency=0)
    with pytest.raises(RouterError, match="log_level"):
        ServeConfig(log_level="banana")
    with pytest.raises(RouterError, match="wrong type"):
        TrainConfig.from_dict({"epochs": "abc"})


def test_a_damaged_linear_model_is_one_error(tmp_path):
    from llm_router.runtime.linear_backend import LinearPredictor

    folder = tmp_path / "tfidf"
    folder.mkdir()
    (folder / "router.json").write_text(json.dumps({"kind": "linear", "labels": ["a", "b"]}))
    (folder / "tfidf.json").write_text(json.dumps({"vocabulary": {"x": 0}, "ngram_range": [1, 1]}))
    (folder / "idf.npy").write_bytes(b"garbage")
    (folder / "head.npz").write_bytes(b"garbage")
    with pytest.raises(RouterError, match="damaged"):
        LinearPredictor.load(folder)


def test_cv_repeats_below_one_is_refused():
    import pandas as pd

    from llm_router.data import kfold_splits

    df = pd.DataFrame({"text": [f"t{i}" for i in range(20)], "label": ["a", "b"] * 10})
    with pytest.raises(RouterError, match="--repeats"):
        kfold_splits(df, folds=2, repeats=0)


def test_a_plot_path_that_is_not_png_is_refused_before_the_work(tmp_path):
    result = CliRunner().invoke(
        app, ["eval", "--model", str(tmp_path / "none"), "--png", str(tmp_path / "x.txt")]
    )
    assert result.exit_code == 2 and "name it .png" in result.output


@pytest.mark.parametrize("state", ["[]", '{"stages": 5}', "{not json"])
def test_router_report_on_a_damaged_run_folder_is_one_error(tmp_path, state):
    from llm_router.eval.report import build_report

    (tmp_path / "pipeline.json").write_text(state)
    with pytest.raises(RouterError, match="no readable pipeline.json"):
        build_report(tmp_path)


def test_the_conclusion_line_reads_missing_values_as_n_a():
    from llm_router.eval.report import conclusion_line

    line = conclusion_line({"strategy": "x", "meets_slo": True, "rps": None, "macro_f1": None})
    assert "n/a req/s" in line and "macro F1 n/a" in line
