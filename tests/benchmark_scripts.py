"""The scripts of ``benchmarks/`` loaded as modules for their tests (they are scripts, not a package). Importable from
any test (``tests/`` is on ``sys.path`` through its conftest)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str):
    """``benchmarks/<name>.py`` as a module named ``<name>_bench``, registered in ``sys.modules`` (dataclasses
    resolve their module by name)."""
    module_name = f"{name}_bench"
    spec = importlib.util.spec_from_file_location(module_name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
