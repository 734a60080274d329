"""Atomic writes: an artefact is built in a temporary sibling path and renamed into place only when complete,
so a failed run never leaves a half-written model behind (and never destroys the previous one)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from llm_router.errors import RouterError


def cache_dir() -> Path:
    """Where converted models and other derived files live: ``$LLM_ROUTER_CACHE``, else
    ``$XDG_CACHE_HOME/llm-router``, else ``~/.cache/llm-router``. Never inside the repository."""
    env = os.environ.get("LLM_ROUTER_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "llm-router"


def check_replaceable(
    final: str | os.PathLike[str],
    marker: str = "router.json",
    keep: Iterable[str | os.PathLike[str] | None] = (),
) -> None:
    """Refuse (one-line :class:`~llm_router.errors.RouterError`) an output folder whose replacement would lose
    something: a path that is a file, a non-empty folder without ``marker`` (not an artefact this command wrote:
    an unrelated folder, or a run folder holding the inputs), or the folder of an input in ``keep`` or one above
    it (``--out`` = ``--model``)."""
    final = Path(final).expanduser()
    if final.exists() and not final.is_dir():
        raise RouterError(f"{final}: exists and is not a folder (choose another output path)")
    resolved = final.resolve()
    for path in keep:
        if path is None:
            continue
        given = Path(path).expanduser().resolve()
        if given == resolved or resolved in given.parents:
            raise RouterError(
                f"{final}: writing it would replace the input {path} (choose another output folder)"
            )
    if final.is_dir() and any(final.iterdir()) and not (final / marker).exists():
        raise RouterError(
            f"{final}: exists and holds no {marker}, so it is not a folder this command wrote; remove it or choose "
            "another output folder"
        )


@contextlib.contextmanager
def atomic_output_dir(
    final: str | os.PathLike[str],
    marker: str = "router.json",
    keep: Iterable[str | os.PathLike[str] | None] = (),
) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``final``; on success it replaces ``final`` (an existing folder is
    moved aside first and removed only after the rename), on any exception it is deleted and ``final`` is
    left exactly as it was. An existing ``final`` is replaced only when :func:`check_replaceable` allows it
    (``marker``: the file that says this command wrote it; ``keep``: the inputs it must not replace)."""
    final = Path(final)
    check_replaceable(final, marker, keep)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(
        tmp, 0o777 & ~umask
    )  # mkdtemp makes it private; the artefact should get normal folder permissions
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def _json_default(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented UTF-8 JSON (numpy scalars and arrays allowed), atomically."""
    return atomic_write_text(
        path, json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    )


class InvalidJsonFile(RouterError, ValueError):
    """A file that should hold JSON does not: a one-line error under a command, and still a ``ValueError`` for the
    callers that treat an unreadable file as a missing one (a stale cache, a run's state)."""


def read_json(path: str | os.PathLike[str]) -> Any:
    """The JSON in ``path``; a file that is not valid JSON (or not UTF-8) raises :class:`InvalidJsonFile`."""
    with open(path, encoding="utf-8") as fh:
        try:
            return json.load(fh)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidJsonFile(f"{path}: not valid JSON ({exc})") from None
