"""``split.json`` (the text hashes of a model's train / val / test rows) and re-loading a model folder's data split
exactly as it was made: the data file ``router.json`` names (or ``--data``), deduplicated as the split was, each
part picked by text hash. The one reload every stage uses (distillation, quantisation gate, eval, compare)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_router.errors import RouterError
from llm_router.persistence.router_json import ROUTER_FILE, read_router_json
from llm_router.utils.files import atomic_write_json, read_json
from llm_router.utils.hashing import text_hash

SPLIT_FILE = "split.json"
PARTS = ("train", "val", "test")


def write_split(folder: str | Path, split: dict[str, Any]) -> Path:
    return atomic_write_json(Path(folder) / SPLIT_FILE, split)


def copy_split(src_folder: str | Path, dst_folder: str | Path) -> None:
    """A derived model (student, ONNX export) keeps its source's split: same held-out rows."""
    shutil.copy2(Path(src_folder) / SPLIT_FILE, Path(dst_folder) / SPLIT_FILE)


def read_split(folder: str | Path) -> dict[str, Any] | None:
    """``folder/split.json``, or None when the folder has none."""
    path = Path(folder) / SPLIT_FILE
    return read_json(path) if path.exists() else None


def data_source(
    router: dict[str, Any], data_path: str | Path | None = None
) -> tuple[Path | None, str | None]:
    """``(path, None)`` of the data file a model was trained on (``data_path`` overrides ``router.json``), or
    ``(None, reason)``."""
    path = data_path or (router.get("data") or {}).get("path")
    if not path:
        return None, "router.json names no data file"
    path = Path(path).expanduser()
    if not path.exists():
        return None, f"the data file {path} does not exist (pass --data)"
    return path, None


def load_split_frame(
    router: dict[str, Any], path: str | Path, *, with_gold: bool = True, extra_cols: tuple[str, ...] = ()
):
    """The model's data file, loaded with the columns ``router.json`` names and deduplicated as the split was
    made, plus ``route`` (the route label), ``gold`` (what the model was trained on: the route, or the finer
    ``train_label_col``; only with ``with_gold``) and ``_hash`` (the text hash ``split.json`` lists)."""
    from llm_router.data import dedup, load_dataset

    data = dict(router.get("data") or {})
    text_col, label_col = data.get("text_col") or "text", data.get("label_col") or "label"
    train_col = data.get("train_label_col") or "label"
    extra = [train_col] if with_gold and train_col not in ("label", label_col) else []
    wanted = extra + [c for c in extra_cols if c not in (*extra, text_col, label_col)]
    df, _report = dedup(load_dataset(path, text_col, label_col, extra_cols=wanted))
    columns = {"route": df["label"], "_hash": df["text"].map(text_hash)}
    if with_gold:
        columns["gold"] = df[train_col] if extra else df["label"]
    return df.assign(**columns)


def split_part(frame, split: dict[str, Any], name: str):
    """The rows of ``frame`` (from :func:`load_split_frame`) whose hash ``split[name]`` lists, and how many the
    split lists."""
    hashes = set(split.get(name) or [])
    return frame[frame["_hash"].isin(hashes)].reset_index(drop=True), len(hashes)


@dataclass
class FolderData:
    """A model folder's ``router.json`` / ``split.json`` and its data, split exactly as the model was trained."""

    path: Path
    router: dict
    split: dict
    train: Any  # DataFrame: text, label, gold (the model's label), route, _hash
    val: Any
    test: Any

    @property
    def labels(self) -> list[str]:
        return list(self.router["labels"])

    @property
    def routes(self) -> list[str]:
        return list(self.router.get("routes") or self.router["labels"])

    @property
    def route_map(self) -> dict[str, str] | None:
        return self.router.get("route_map") or None

    def to_route(self, label: str) -> str:
        return (self.route_map or {}).get(label, label)

    @property
    def text_prefix(self) -> str:
        return self.router.get("text_prefix") or ""


def _check_groups(parts: dict[str, Any], group_col: str, folder: Path) -> None:
    """Raise when one value of ``group_col`` has rows in two parts of a split (a leak between them)."""
    seen: dict[str, str] = {}
    for name, rows in parts.items():
        for group in rows[group_col].dropna().unique():
            if seen.setdefault(group, name) != name:
                raise RouterError(
                    f"{folder}/split.json: group {group!r} of '{group_col}' has rows in both {seen[group]} and "
                    f"{name}; retrain the teacher with `router train --group-col {group_col}`"
                )


def load_folder_data(
    folder: str | Path,
    data_path: str | Path | None = None,
    require_kind: str | None = None,
    group_col: str | None = None,
) -> FolderData:
    """Any model folder's ``router.json`` / ``split.json`` and its data, split exactly as it was trained; every
    listed row must be found (else the data file changed: a RouterError says so). With ``group_col`` (default: the
    one ``split.json`` was made with) no group may have rows in two parts."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RouterError(f"{folder}: no such {'teacher ' if require_kind else ''}folder")
    for name in (ROUTER_FILE, SPLIT_FILE):
        if not (folder / name).exists():
            raise RouterError(f"{folder}: not a model folder (no {name}); train one with `router train`")
    router = read_router_json(folder)
    if require_kind and router.get("kind", "hf") != require_kind:
        raise RouterError(
            f"{folder}: teacher must be a PyTorch (kind {require_kind}) folder, not kind {router['kind']!r}"
        )
    split = read_split(folder)
    path = data_path or (router.get("data") or {}).get("path")
    if not path:
        raise RouterError(f"{folder}/router.json names no data file; pass --data")
    if not Path(path).exists():
        raise RouterError(f"{path}: the teacher's data file is gone; pass --data with the same file")
    group_col = group_col or split.get("group_col")
    frame = load_split_frame(router, path, extra_cols=(group_col,) if group_col else ())

    def part(name: str):
        rows, wanted = split_part(frame, split, name)
        if wanted and len(rows) < wanted:
            raise RouterError(
                f"{path}: only {len(rows)} of the {wanted} {name} texts of {folder}/split.json are in "
                "the data; is this the file the teacher was trained on?"
            )
        return rows

    train, val, test = part("train"), part("val"), part("test")
    if group_col:
        _check_groups({"train": train, "val": val, "test": test}, group_col, folder)
    if train.empty:
        raise RouterError(f"{folder}/split.json: no training rows")
    labels = set(router["labels"])
    unknown = sorted(set(train["gold"]) - labels)
    if unknown:
        raise RouterError(
            f"training labels {unknown[:5]} are not among the teacher's labels {sorted(labels)}"
        )
    return FolderData(folder, router, split, train, val, test)
