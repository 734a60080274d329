"""Single pipeline stages with the heavy work replaced: what each passes on from `PipelineConfig`."""

from types import SimpleNamespace

import pytest

import llm_router.train.fit as fit
from llm_router.pipeline import PipelineConfig, stage_teacher


@pytest.mark.parametrize(("budget", "expected"), [(None, 900.0), (0.0, 0.0), (120.0, 120.0)])
def test_teacher_stage_passes_the_time_budget_to_train(monkeypatch, tmp_path, budget, expected):
    seen = {}

    def fake_train(df, config, out, created_by):
        seen["config"] = config
        return SimpleNamespace(metrics={"macro_f1": 0.5, "accuracy": 0.5})

    monkeypatch.setattr(fit, "train", fake_train)
    summary = stage_teacher(PipelineConfig(teacher_time_budget_s=budget, teacher_epochs=2), tmp_path)
    assert seen["config"].time_budget_s == expected  # None: `router train`'s default
    assert seen["config"].epochs == 2
    assert "macro F1 0.500" in summary


def test_pipeline_command_has_a_time_budget_option():
    from typer.testing import CliRunner

    from llm_router.cli import app

    result = CliRunner().invoke(app, ["pipeline", "--help"], env={"COLUMNS": "200"})
    assert "--time-budget" in result.output


def test_a_stage_hash_follows_the_data_files_content_not_how_its_path_is_written(tmp_path, monkeypatch):
    """`--data x.csv` and `--data /abs/x.csv` are one run; an edited file redoes the stages that read it."""
    import os

    from llm_router.pipeline import _config_hash

    data = tmp_path / "x.csv"
    data.write_text("text,label\na,b\n")
    monkeypatch.chdir(tmp_path)
    keys = ("data", "seed")
    relative = _config_hash(PipelineConfig(data="x.csv"), keys, [])
    assert relative == _config_hash(PipelineConfig(data=str(data)), keys, [])
    data.write_text("text,label\na,c\n")
    os.utime(data, ns=(1, 1))  # a different mtime, whatever the clock's resolution
    assert _config_hash(PipelineConfig(data="x.csv"), keys, []) != relative
    assert _config_hash(PipelineConfig(data="absent.csv"), keys, []) != relative  # no file: hashed as given
