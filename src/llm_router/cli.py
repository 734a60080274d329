"""The `router` command line: a thin layer over the stage functions, which tests call directly.

Every command turns a :class:`~llm_router.errors.RouterError` into one line on stderr and a non-zero exit
(2 by default); no traceback reaches the user for bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape as rich_escape
from typer.core import TyperGroup

from llm_router.errors import RouterError

console = Console()
err_console = Console(stderr=True)


def print_error(message: str) -> None:
    """One line on stderr, never wrapped, never a traceback."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)


class RouterGroup(TyperGroup):
    """Turns a RouterError raised anywhere under a command into one line on stderr and its exit code."""

    def invoke(self, ctx):  # noqa: D401 - click API
        try:
            return super().invoke(ctx)
        except RouterError as exc:
            print_error(rich_escape(str(exc)))
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=RouterGroup,
    name="router",
    help="Train, distil, quantise, evaluate, serve and benchmark an LLM query router.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Shared option types, so every command that takes data spells them the same way.
DataOpt = Annotated[
    Path | None, typer.Option("--data", help="CSV/TSV/JSONL/Parquet file (default: the bundled demo set).")
]
TextColOpt = Annotated[str, typer.Option("--text-col", help="Column holding the query text.")]
LabelColOpt = Annotated[str, typer.Option("--label-col", help="Column holding the route label.")]
LabelsOpt = Annotated[
    str | None, typer.Option("--labels", help="Comma-separated allowed labels; any other label is an error.")
]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Fail on empty texts instead of dropping them.")]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Also write the results to this JSON file.")]


def parse_labels(labels: str | None) -> list[str] | None:
    return [x.strip() for x in labels.split(",") if x.strip()] if labels else None


def _version(value: bool) -> None:
    if value:
        from llm_router import __version__

        console.print(f"llm-router {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Train, distil, quantise, evaluate, serve and benchmark an LLM query router."""


def sub_app(name: str, help: str) -> typer.Typer:
    """A command group (e.g. `router models ...`) that shares the error handling of the top level."""
    group = typer.Typer(name=name, help=help, cls=RouterGroup, no_args_is_help=True, add_completion=False)
    app.add_typer(group, name=name)
    return group


# ----------------------------------------------------------------------------------------------- analyze
@app.command()
def analyze(
    data: DataOpt = None,
    text_col: TextColOpt = "text",
    label_col: LabelColOpt = "label",
    labels: LabelsOpt = None,
    strict: StrictOpt = False,
    model: Annotated[
        str, typer.Option("--model", help="Tokenizer used for token lengths and the max-length warning.")
    ] = "intfloat/multilingual-e5-small",
    json_path: JsonOpt = None,
) -> None:
    """Profile a labelled query set: duplicates, imbalance, lengths, scripts, warnings."""
    from llm_router.data import analyze_dataset, load_dataset
    from llm_router.data.analyze import print_analysis
    from llm_router.utils import atomic_write_json

    df = load_dataset(data, text_col, label_col, labels=parse_labels(labels), strict=strict)
    result = analyze_dataset(df, tokenizer_name=model)
    print_analysis(result, console)
    if json_path:
        atomic_write_json(json_path, result)
        console.print(f"wrote {json_path}")


def main() -> None:
    """Entry point of the `router` console script."""
    app()


if __name__ == "__main__":
    main()
