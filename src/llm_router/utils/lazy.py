"""Package faces whose names load their module on first use (PEP 562 ``__getattr__``), so importing the package
stays cheap: ``__getattr__ = lazy_exports(__name__, {"Name": "module.path"})``."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package`` for ``exports`` (name -> module path, absolute or relative to
    ``package`` such as ``".core"``): each name is imported from its module when first looked up."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(exports[name], package), name)

    return __getattr__
