"""Command-line options generated from the stage configs, so that `cli.py` stays a thin layer.

A stage config is a dataclass whose fields are documented with :func:`llm_router.utils.fields.option` (HfArgumentParser's pattern: the
help text lives in the field's metadata, next to its default). :func:`dataclass_options` turns every documented
field into a Typer option - ``--field-name`` unless the field names its flags, ``--x/--no-x`` for booleans - whose
value is ``None`` when not given, so the dataclass default (or a ``--config`` file) applies. :func:`with_options`
adds such a set of options to a command, which receives them as one dict.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from pathlib import Path
from typing import Annotated, Any

import typer

SCALARS = (bool, int, float, str, Path)


def _scalar(hint: Any) -> type | None:
    """``int`` for ``int``, ``int | None`` or ``Optional[int]``; None for anything that is not one scalar."""
    if hint in SCALARS:
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and args[0] in SCALARS:
            return args[0]
    return None


def dataclass_options(cls: type, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """``{field name: Annotated[type | None, typer.Option(...)]}`` for every documented scalar field of ``cls``."""
    hints = typing.get_type_hints(cls)
    options: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        help_text = f.metadata.get("help")
        kind = _scalar(hints[f.name])
        if f.name in exclude or help_text is None or kind is None:
            continue
        flags = f.metadata.get("flags") or (f"--{f.name.replace('_', '-')}",)
        if kind is bool and not any("/" in flag for flag in flags):
            flags = tuple(f"{flag}/--no-{flag[2:]}" for flag in flags)
        default = f.default if f.default is not dataclasses.MISSING else None
        shown = "none" if default is None else str(default).lower() if kind is bool else default
        options[f.name] = Annotated[
            kind | None,
            typer.Option(*flags, help=f"{help_text} Default: {shown}.", show_default=False),
        ]
    return options


def with_options(options: dict[str, Any]):
    """Give a command every option of ``options`` (before its own last parameter, conventionally ``--json``); the
    function receives them as one dict ``options`` ({field: value or None})."""

    def decorate(command):
        signature = inspect.signature(command, eval_str=True)
        own = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for p in signature.parameters.values()
            if p.name != "options"
        ]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
            for name, annotation in options.items()
        ]

        @functools.wraps(command)
        def wrapper(**kwargs):
            given = {name: kwargs.pop(name) for name in options}
            return command(**kwargs, options=given)

        wrapper.__signature__ = signature.replace(parameters=own[:-1] + added + own[-1:])
        wrapper.__annotations__ = {}  # the signature is the whole truth (typer reads both)
        return wrapper

    return decorate
