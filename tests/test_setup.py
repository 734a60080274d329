"""Setup holds on a fresh machine: the committed locks match pyproject, and every import of src/ is declared.

A lock that is older than ``pyproject.toml`` lets a dependency change land without the pins that CI installs;
an import that only works because some other package dragged its distribution in breaks on the next release.
Both are caught here, at the commit that causes them, without a network.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import importlib.util
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lock_tool():
    spec = importlib.util.spec_from_file_location("lock_tool", ROOT / "tools" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _requirement_name(requirement: str) -> str:
    return _normalise(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])


def _declared() -> set[str]:
    """Distribution names (normalised) that pyproject declares, in dependencies or any extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    return {_requirement_name(r) for r in requirements}


def _imported_top_level_modules() -> dict[str, set[str]]:
    """Top-level module name -> the src/ files that import it (absolute imports only)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def test_the_locks_were_regenerated_after_the_last_dependency_change():
    tool = _lock_tool()
    stale = tool.stale_locks(ROOT)
    assert not stale, f"{stale}: pyproject.toml or constraints.txt changed - run `python tools/lock.py`"


def test_a_changed_dependency_makes_the_lock_stale(tmp_path):
    tool = _lock_tool()
    for name in ("pyproject.toml", "constraints.txt"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / "requirements").mkdir()
    for name in tool.LOCKS:
        (tmp_path / "requirements" / name).write_text((ROOT / "requirements" / name).read_text())
    assert tool.stale_locks(tmp_path) == []
    pyproject = (tmp_path / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(pyproject.replace('"numpy>=1.26"', '"numpy>=1.27"'))
    assert tool.stale_locks(tmp_path) == list(tool.LOCKS)


def test_every_lock_pins_every_package_exactly():
    for name in _lock_tool().LOCKS:
        lines = [
            ln for ln in (ROOT / "requirements" / name).read_text().splitlines() if ln and ln[0].isalnum()
        ]
        assert lines, name
        loose = [ln for ln in lines if "==" not in ln]
        assert not loose, f"{name}: unpinned {loose}"
    main = (ROOT / "requirements" / "lock.txt").read_text()
    assert re.search(r"^torch==[\d.]+\+cpu$", main, re.M), "the lock must pin the CPU build of torch"


def test_every_third_party_import_in_src_is_a_declared_dependency():
    declared = _declared()
    distributions = md.packages_distributions()
    undeclared = {}
    for module, files in sorted(_imported_top_level_modules().items()):
        if module in sys.stdlib_module_names or module == "llm_router":
            continue
        # an installed module maps to the distributions that ship it; an uninstalled optional one (an extra not
        # installed here) must be named like its distribution
        candidates = {_normalise(d) for d in distributions.get(module, [])} or {_normalise(module)}
        if not candidates & declared:
            undeclared[module] = sorted(files)
    assert not undeclared, f"imported by src/ but not declared in pyproject.toml: {undeclared}"


@pytest.mark.parametrize("requirement", ["orjson>=3.9", "scikit-learn>=1.4", "ray[serve,data]>=2.40"])
def test_requirement_names_are_parsed_like_pip(requirement):
    assert _requirement_name(requirement) in _declared()
