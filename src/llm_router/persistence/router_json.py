"""``router.json``: what a model folder says about itself (docs/ARTEFACTS.md) - writing it, and reading it into
one small dataclass."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from llm_router.errors import RouterError
from llm_router.utils.files import atomic_write_json
from llm_router.utils.probs import route_matrix

ROUTER_FORMAT = "llm-router/1"
ROUTER_FILE = "router.json"
KINDS = (
    "hf",
    "onnx",
    "static",
    "linear",
    "cascade",
    "early-exit",
)  # linear: runtime/linear_backend.py, cascade: runtime/cascade.py, early-exit: runtime/early_exit.py
DEFAULT_MAX_LENGTH = 128


def router_record(
    *,
    kind: str,
    labels: list[str],
    routes: list[str],
    route_map: dict[str, str] | None,
    text_prefix: str,
    max_length: int,
    base_model: str | None,
    data: dict[str, Any] | None,
    onnx_file: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A ``router.json`` record with its fields in the documented order (``extra``: ``created_by``, ``teacher``,
    ``student``, ``quantization``, ...)."""
    return {
        "format": ROUTER_FORMAT,
        "kind": kind,
        "labels": labels,
        "routes": routes,
        "route_map": route_map,
        "text_prefix": text_prefix,
        "max_length": max_length,
        "base_model": base_model,
        "onnx_file": onnx_file,
        "data": data,
        **extra,
    }


def write_router_json(folder: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as ``folder/router.json`` (atomically); ``format`` is set when the record lacks it."""
    return atomic_write_json(Path(folder) / ROUTER_FILE, {"format": ROUTER_FORMAT, **record})


def read_router_json(folder: str | Path) -> dict[str, Any]:
    """The raw ``router.json`` of ``folder`` ({} when there is none)."""
    path = Path(folder) / ROUTER_FILE
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RouterError(f"{path}: not valid JSON ({exc.msg})") from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise RouterError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(raw, dict):
        raise RouterError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    return raw


@dataclass
class RouterInfo:
    """The parts of ``router.json`` the runtime needs, with defaults for a bare HF / ONNX / model2vec folder."""

    kind: str
    labels: list[str]
    routes: list[str]
    route_map: dict[str, str] | None = None
    text_prefix: str = ""
    max_length: int = DEFAULT_MAX_LENGTH
    base_model: str | None = None
    onnx_file: str | None = None
    data: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # the whole router.json (empty when there was none)

    def route_matrix(self) -> np.ndarray:
        """``[n_labels, n_routes]`` 0/1 matrix: ``label_probs @ M`` gives each route's probability (the sum of
        its labels' probabilities)."""
        return route_matrix(self.labels, self.routes, self.route_map)

    def to_record(self) -> dict[str, Any]:
        """The folder's ``router.json`` as read, or one rebuilt from these fields for a folder that had none."""
        if self.raw:
            return dict(self.raw)
        return router_record(**{f.name: getattr(self, f.name) for f in fields(self) if f.name != "raw"})


def detect_kind(folder: Path) -> str:
    """The kind of a folder without a ``router.json``: ONNX file -> onnx, ``head.npz`` -> static, else hf."""
    if any(folder.glob("*.onnx")):
        return "onnx"
    if (folder / "head.npz").exists():
        return "static"
    if (folder / "config.json").exists():
        return "hf"
    raise RouterError(f"{folder}: not a model folder (no router.json, config.json, *.onnx or head.npz)")


def _labels_from_config(folder: Path) -> list[str] | None:
    config = folder / "config.json"
    if not config.exists():
        return None
    id2label = json.loads(config.read_text(encoding="utf-8")).get("id2label") or {}
    if not id2label:
        return None
    return [str(id2label[k]) for k in sorted(id2label, key=lambda k: int(k))]


def read_router_info(path: str | Path) -> tuple[Path, RouterInfo]:
    """``(folder, info)`` for a model folder, or for an ``.onnx`` file inside one (which then is the one served).

    Missing ``router.json`` is fine for a plain HF / ONNX export folder: labels come from ``config.json``
    (``id2label``) and the routes are the labels.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise RouterError(f"{path}: no such model file or folder")
    onnx_file = None
    if path.is_file():
        if path.suffix != ".onnx":
            raise RouterError(f"{path}: expected a model folder or an .onnx file")
        onnx_file, path = path.name, path.parent
    raw = read_router_json(path)
    kind = "onnx" if onnx_file else raw.get("kind") or detect_kind(path)
    if kind not in KINDS:
        raise RouterError(f"{path / 'router.json'}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
    labels = raw.get("labels") or _labels_from_config(path)
    if labels and not isinstance(labels, list):
        raise RouterError(f"{path / 'router.json'}: 'labels' must be a list, got {labels!r}")
    if not labels:
        raise RouterError(
            f"{path}: cannot tell the model's labels (no router.json labels, no config.json id2label)"
        )
    labels = [str(x) for x in labels]
    routes = [
        str(x)
        for x in (
            raw.get("routes") or (sorted(set(raw["route_map"].values())) if raw.get("route_map") else labels)
        )
    ]
    if kind == "onnx" and onnx_file is None:
        onnx_file = raw.get("onnx_file")
        if onnx_file is None:
            found = sorted(p.name for p in path.glob("*.onnx"))
            if not found:
                raise RouterError(f"{path}: kind onnx but no .onnx file")
            onnx_file = "model.onnx" if "model.onnx" in found else found[0]
    info = RouterInfo(
        kind=kind,
        labels=labels,
        routes=routes,
        route_map=raw.get("route_map") or None,
        text_prefix=raw.get("text_prefix") or "",
        max_length=int(raw.get("max_length") or DEFAULT_MAX_LENGTH),
        base_model=raw.get("base_model"),
        onnx_file=onnx_file,
        data=raw.get("data"),
        raw=raw,
    )
    info.route_matrix()  # fail early on an inconsistent route map
    return path, info


def update_router_json(folder: str | Path, **fields: Any) -> Path:
    """Set (or, with ``None``, remove) top-level fields of ``folder/router.json``, atomically; creates the file
    from the folder's own description (:func:`read_router_info`) when there is none."""
    from llm_router.utils import atomic_write_json

    folder = Path(folder)
    path = folder / "router.json"
    _, info = read_router_info(folder)
    raw = dict(info.raw) or {
        "format": "llm-router/1",
        "kind": info.kind,
        "labels": info.labels,
        "routes": info.routes,
    }
    for key, value in fields.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return atomic_write_json(path, raw)


def read_sidecar(folder: str | Path, raw: dict[str, Any] | None, key: str, what: str) -> Any | None:
    """The JSON of the file that ``router.json:<key>`` names (e.g. ``calibration``, ``policy``), or ``None`` when
    it names none (``raw``: router.json's content, read when ``None``)."""
    folder = Path(folder)
    if raw is None:
        folder, info = read_router_info(folder)
        raw = info.raw
    name = raw.get(key)
    if not name:
        return None
    path = folder / str(name)
    if not path.exists():
        raise RouterError(f"{folder / 'router.json'} names {what} file {name!r}, which is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RouterError(f"{path}: not valid JSON ({exc.msg})") from None


def write_sidecar(folder: str | Path, key: str, filename: str, data: dict[str, Any] | None) -> Path:
    """Write ``folder/filename`` and point ``router.json:<key>`` at it (both atomically); ``None`` removes both."""
    from llm_router.utils import atomic_write_json

    folder = Path(folder)
    path = folder / filename
    if data is None:
        update_router_json(folder, **{key: None})
        path.unlink(missing_ok=True)
        return path
    atomic_write_json(path, data)
    update_router_json(folder, **{key: filename})
    return path
