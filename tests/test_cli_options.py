"""Options generated from the stage configs: every documented scalar field becomes a flag, values not given stay
None (so the dataclass default applies), and a bad value is one line and exit 2."""

from __future__ import annotations

import dataclasses
import typing

import pytest
import typer
from typer.testing import CliRunner

from llm_router.cli import app
from llm_router.cli_options import dataclass_options, with_options
from llm_router.distill.config import DistillConfig
from llm_router.quantize.config import QuantizeConfig
from llm_router.utils.fields import option


@dataclasses.dataclass
class Stage:
    size: int = option(3, "How many.")
    rate: float | None = option(None, "How fast.", "--lr")
    fast: bool = option(True, "Go fast.")
    grid: tuple[float, ...] = (1.0, 2.0)  # not a scalar: no option
    secret: str = "x"  # undocumented: no option


def test_documented_scalar_fields_become_options_with_their_flags_and_defaults():
    options = dataclass_options(Stage)
    assert list(options) == ["size", "rate", "fast"]
    infos = {name: typing.get_args(ann)[1] for name, ann in options.items()}
    # inside Annotated, typer takes the first positional argument (``default``) as the first flag
    flags = {name: (info.default, *info.param_decls) for name, info in infos.items()}
    assert flags == {"size": ("--size",), "rate": ("--lr",), "fast": ("--fast/--no-fast",)}
    assert typing.get_args(options["size"])[1].help == "How many. Default: 3."


def test_with_options_passes_only_what_was_given():
    seen = {}
    cli = typer.Typer()

    @cli.command()
    @with_options(dataclass_options(Stage))
    def run(options: dict | None = None, json_path: str | None = None) -> None:
        seen.update(options)

    result = CliRunner().invoke(cli, ["--lr", "0.5", "--no-fast"])
    assert result.exit_code == 0, result.output
    assert seen == {"size": None, "rate": 0.5, "fast": False}


@pytest.mark.parametrize(
    ("command", "config", "at_least"), [("distill", DistillConfig, 25), ("quantize", QuantizeConfig, 15)]
)
def test_a_stage_command_takes_every_documented_field_of_its_config(command, config, at_least):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "240"})
    assert result.exit_code == 0
    documented = [f for f in dataclasses.fields(config) if "help" in f.metadata]
    assert len(documented) >= at_least
    for f in documented:
        flag = (f.metadata["flags"] or (f"--{f.name.replace('_', '-')}",))[0].split("/")[0]
        assert flag in result.output, flag


def test_a_bad_distill_option_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "t").mkdir()
    result = CliRunner().invoke(
        app,
        ["distill", "--teacher", str(tmp_path / "t"), "--out", str(tmp_path / "s"), "--select-on", "loss"],
    )
    assert result.exit_code == 2
    assert "select_on" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "s").exists()
