"""Documented config fields: the help text of a stage config's field lives beside its default.

:func:`option` is ``dataclasses.field`` with ``help`` (and optionally the command-line flags) in its metadata, the
pattern of Hugging Face's ``HfArgumentParser``. :mod:`llm_router.cli_options` turns such fields into options of
the `router` command line; library code never needs the CLI to read them.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def option(default: Any, help: str, *flags: str) -> Any:
    """A dataclass field with a default, its ``--help`` text and optionally its flags (default ``--field-name``)."""
    return dataclasses.field(default=default, metadata={"help": help, "flags": flags})
