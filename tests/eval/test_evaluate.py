"""`router eval` on any artefact through the runtime Predictor: own held-out split by default, or given data."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from llm_router.cli import app
from llm_router.errors import RouterError
from llm_router.eval import evaluate, held_out_split
from llm_router.utils import read_json, text_hash

KEYS = (
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "macro_f1_ci95",
    "per_class",
    "confusion_matrix",
    "labels",
    "n",
)


def test_default_is_the_models_own_test_split(tiny_classifier_dir):
    report = evaluate(tiny_classifier_dir, n_boot=200)
    test_hashes = set(read_json(tiny_classifier_dir / "split.json")["test"])
    assert report["split"] == "test" and report["n"] == len(test_hashes)
    rows = held_out_split(tiny_classifier_dir)
    assert set(rows["text"].map(text_hash)) == test_hashes
    for key in KEYS:
        assert key in report
    assert sum(map(sum, report["confusion_matrix"])) == report["n"]
    assert report["accuracy"] > 0.6  # the fixture model was fitted: its predictions mean something


def test_given_data_counts_rows_seen_in_training(tiny_classifier_dir):
    data = read_json(tiny_classifier_dir / "router.json")["data"]["path"]
    df = pd.read_csv(data)
    report = evaluate(tiny_classifier_dir, df, n_boot=0)
    split = read_json(tiny_classifier_dir / "split.json")
    assert report["split"] == "all" and report["n"] == len(df)
    assert report["train_overlap"] == len(split["train"]) + len(split["val"])


def test_unknown_true_labels_are_kept_visible(tiny_classifier_dir):
    df = pd.DataFrame({"text": ["hi there", "solve 2x = 4"], "label": ["gemini-mini", "llama"]})
    report = evaluate(tiny_classifier_dir, df, n_boot=0)
    assert report["unknown_labels"] == ["llama"] and report["labels"][-1] == "llama"
    assert report["per_class"]["llama"]["recall"] == 0


def test_predictor_object_and_figure(tiny_classifier_dir, tmp_path):
    from llm_router.runtime import Predictor

    report = evaluate(Predictor.load(tiny_classifier_dir), n_boot=0, confusion_png=tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG" and report["confusion_png"].endswith("cm.png")


def test_missing_split_asks_for_data(tiny_classifier_dir, tmp_path):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(tiny_classifier_dir, copy)
    (copy / "split.json").unlink()
    with pytest.raises(RouterError, match="pass --data"):
        evaluate(copy)


def test_cli_eval_writes_json_with_the_documented_keys(tiny_classifier_dir, tmp_path):
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        app, ["eval", "--model", str(tiny_classifier_dir), "--json", str(out), "--bootstrap", "100"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    for key in KEYS:
        assert key in report
    assert out.with_suffix(".png").exists()
    assert "macro F1" in result.output and "confusion matrix" in result.output


def test_cli_eval_bad_model_is_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["eval", "--model", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
