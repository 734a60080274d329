"""`router train`, `router cv`, `router tune` through the CLI, and SetFit, on tiny random models."""

import json

import pytest
from typer.testing import CliRunner

from llm_router.cli import app
from llm_router.train.config import TrainConfig
from llm_router.utils import read_json


@pytest.fixture
def toy_csv(toy_df, tmp_path):
    path = tmp_path / "toy.csv"
    toy_df.rename(columns={"text": "query", "label": "route"}).to_csv(path, index=False)
    return path


def run(args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_cli_train_with_config_file_and_overrides(tiny_bert_dir, toy_csv, tmp_path):
    config = TrainConfig(model=str(tiny_bert_dir), epochs=3, learning_rate=1e-3, class_weights="sqrt")
    config.to_json(tmp_path / "best.json")
    out = tmp_path / "model"
    result = run(
        [
            "train",
            "--data",
            toy_csv,
            "--text-col",
            "query",
            "--label-col",
            "route",
            "--config",
            tmp_path / "best.json",
            "--epochs",
            "1",
            "--oversample",
            "1",
            "--out",
            out,
        ]
    )
    used = read_json(out / "train_config.json")
    assert used["epochs"] == 1 and used["learning_rate"] == 1e-3 and used["class_weights"] == "sqrt"
    assert used["oversample"] == 1.0
    assert read_json(out / "router.json")["data"] == {
        "path": str(toy_csv),
        "text_col": "query",
        "label_col": "route",
        "train_label_col": "label",
    }
    assert "test macro F1" in result.output
    # `router eval` finds the run's own held-out split through router.json / split.json
    run(["eval", "--model", out, "--json", tmp_path / "e.json", "--bootstrap", "50"])
    assert read_json(tmp_path / "e.json")["n"] == len(read_json(out / "split.json")["test"])


def test_cli_train_intent_level_prints_the_auto_map(tiny_bert_dir, toy_csv, tmp_path):
    out = tmp_path / "intent"
    result = run(
        [
            "train",
            "--data",
            toy_csv,
            "--text-col",
            "query",
            "--label-col",
            "route",
            "--model",
            tiny_bert_dir,
            "--epochs",
            "1",
            "--train-label-col",
            "intent",
            "--route-map",
            "auto",
            "--out",
            out,
        ]
    )
    assert "route map" in result.output and "small_talk" in result.output
    assert read_json(out / "router.json")["route_map"]["small_talk"] == "gemini-mini"


def test_cli_cv_json_keys(tiny_bert_dir, toy_csv, tmp_path):
    out = tmp_path / "cv.json"
    run(
        [
            "cv",
            "--data",
            toy_csv,
            "--text-col",
            "query",
            "--label-col",
            "route",
            "--model",
            tiny_bert_dir,
            "--epochs",
            "1",
            "--folds",
            "2",
            "--json",
            out,
        ]
    )
    result = json.loads(out.read_text())
    for key in ("macro_f1_mean", "macro_f1_std", "accuracy_mean", "weighted_f1_mean"):
        assert 0 <= result[key] <= 1
    assert len(result["per_fold"]) == 2


def test_cli_bad_options_are_one_line_errors(tiny_bert_dir, toy_csv):
    runner = CliRunner()
    for args in (
        ["--class-weights", "heavy"],
        ["--augment", "nonsense:1"],
        ["--train-label-col", "intent"],
        ["--route-map", "auto"],
    ):
        result = runner.invoke(
            app,
            [
                "train",
                "--data",
                str(toy_csv),
                "--text-col",
                "query",
                "--label-col",
                "route",
                "--model",
                str(tiny_bert_dir),
                *args,
            ],
        )
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output


def test_setfit_method_gives_the_same_artefact(tiny_bert_dir, toy_df, tmp_path):
    from llm_router.train.fit import train

    cfg = TrainConfig(
        model=str(tiny_bert_dir), method="setfit", epochs=1, learning_rate=1e-3, setfit_iterations=1
    )
    result = train(toy_df, cfg, tmp_path / "sf", progress=False)
    assert result.history[0]["stage"] == "setfit-contrastive" and result.history[0]["seconds"] > 0
    router = read_json(tmp_path / "sf" / "router.json")
    assert router["kind"] == "hf" and router["labels"] == sorted(toy_df["label"].unique())
    assert (tmp_path / "sf" / "model.safetensors").exists() and "macro_f1" in result.metrics
    from llm_router.runtime import Predictor

    assert len(Predictor.load(tmp_path / "sf").predict(["hello", "write code"]).routes) == 2


def test_cli_tune_writes_a_config_that_train_accepts(tiny_bert_dir, toy_csv, tmp_path):
    best = tmp_path / "best.json"
    result = run(
        [
            "tune",
            "--data",
            toy_csv,
            "--text-col",
            "query",
            "--label-col",
            "route",
            "--model",
            tiny_bert_dir,
            "--trials",
            "1",
            "--folds",
            "0",
            "--epochs",
            "2",
            "--augment",
            "none",
            "--oversample",
            "0",
            "--out",
            best,
            "--json",
            tmp_path / "trials.json",
        ]
    )
    assert "router tune" in result.output and "best macro F1" in result.output
    config = TrainConfig.from_json(best)
    assert config.model == str(tiny_bert_dir)
    trials = json.loads((tmp_path / "trials.json").read_text())
    assert len(trials["trials"]) == 1 and trials["config"] == config.to_dict()
