"""`--group-col` through the CLI: rows of one group (a conversation, a user) never sit on both sides of a split.

`router cv`, `router train` and `router tune` take the option from TrainConfig; `router distill` refuses a teacher
whose split leaks groups; `router pipeline` passes it to its teacher."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from llm_router.cli import app
from llm_router.utils import read_json, text_hash


@pytest.fixture
def grouped(toy_df, tmp_path):
    """The toy rows in conversations of 3 consecutive rows (labels mixed inside a conversation)."""
    df = toy_df.rename(columns={"text": "query", "label": "route"})
    df["conv"] = [f"c{i // 3}" for i in range(len(df))]
    path = tmp_path / "grouped.csv"
    df.to_csv(path, index=False)
    return path, dict(zip(df["query"].str.strip(), df["conv"], strict=True))


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _common(path, model):
    return ["--data", path, "--text-col", "query", "--label-col", "route", "--model", model, "--epochs", "1"]


def test_cv_folds_never_split_a_group(grouped, tiny_bert_dir, monkeypatch):
    import llm_router.train.cv as train_module

    path, conv_of = grouped
    seen = []
    real_fit = train_module.fit

    def recording_fit(train_df, val_df, config, targets, exclude_texts=(), **kwargs):
        seen.append((list(train_df["text"]), list(exclude_texts)))
        return real_fit(train_df, val_df, config, targets, exclude_texts=exclude_texts, **kwargs)

    monkeypatch.setattr(train_module, "fit", recording_fit)
    result = _invoke(
        "cv", *_common(path, tiny_bert_dir), "--folds", "3", "--group-col", "conv", "--val-size", "0.2"
    )
    assert result.exit_code == 0, result.output
    assert len(seen) == 3
    for train_texts, held_out in seen:  # held out = the fold's test rows (+ its inner validation rows)
        assert held_out
        assert not {conv_of[t] for t in train_texts} & {conv_of[t] for t in held_out}


def test_train_split_keeps_groups_whole_and_records_the_column(grouped, tiny_bert_dir, tmp_path):
    path, conv_of = grouped
    out = tmp_path / "teacher"
    result = _invoke("train", *_common(path, tiny_bert_dir), "--group-col", "conv", "--out", out)
    assert result.exit_code == 0, result.output
    split = read_json(out / "split.json")
    assert split["group_col"] == "conv"
    assert read_json(out / "train_config.json")["group_col"] == "conv"
    conv_of_hash = {text_hash(t): c for t, c in conv_of.items()}
    parts = {name: {conv_of_hash[h] for h in split[name]} for name in ("train", "val", "test")}
    assert parts["test"] and parts["train"]
    assert not parts["train"] & parts["test"] and not parts["train"] & parts["val"]
    assert not parts["val"] & parts["test"]


def test_distill_refuses_a_teacher_whose_split_leaks_groups(grouped, tiny_bert_dir, tmp_path):
    path, conv_of = grouped
    teacher = tmp_path / "teacher"
    assert _invoke("train", *_common(path, tiny_bert_dir), "--out", teacher).exit_code == 0
    split = read_json(teacher / "split.json")
    by_part = {
        name: {conv_of[t] for t in conv_of if text_hash(t) in set(split[name])} for name in ("train", "test")
    }
    assert by_part["train"] & by_part["test"], "the ungrouped split should cut some conversation"
    out = tmp_path / "student"
    result = _invoke("distill", "--teacher", teacher, "--out", out, "--group-col", "conv", "--epochs", "1")
    assert result.exit_code == 2, result.output
    assert "has rows in both" in result.output and "--group-col conv" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_unknown_group_column_is_a_one_line_error(grouped, tiny_bert_dir, tmp_path):
    path, _ = grouped
    result = _invoke("train", *_common(path, tiny_bert_dir), "--group-col", "nope", "--out", tmp_path / "m")
    assert result.exit_code == 2 and "no extra column 'nope'" in result.output


def test_pipeline_passes_group_col_to_the_teacher(monkeypatch, tmp_path):
    import llm_router.pipeline as pipeline

    captured = {}

    def fake_run(cfg, force=(), console=None, until=None):
        captured["cfg"] = cfg
        return {"stages": {}}

    monkeypatch.setattr(pipeline, "run_pipeline", fake_run)
    result = _invoke("pipeline", "--group-col", "conv", "--out", tmp_path / "run", "--until", "teacher")
    assert result.exit_code == 0, result.output
    assert captured["cfg"].group_col == "conv"
