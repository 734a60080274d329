"""Writing a model folder's JSON files: ``router.json``, ``split.json`` and the run records beside them
(``train_config.json``, ``metrics.json``, ``history.json``, ``distill.json``). The weights and tokenizer are the
stage's own (``save_pretrained``, ``head.npz``, ``model.onnx``); docs/ARTEFACTS.md lists every file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llm_router.persistence.router_json import write_router_json
from llm_router.persistence.split import copy_split, write_split
from llm_router.utils.files import atomic_write_json


def write_model_files(
    folder: str | Path,
    router: dict[str, Any],
    *,
    split: dict[str, Any] | None = None,
    split_from: str | Path | None = None,
    records: dict[str, Any] | None = None,
) -> None:
    """``router.json``; ``split.json`` (``split``, or copied from the folder ``split_from``); and each
    ``records`` entry ``{file name: data}`` whose data is not None."""
    folder = Path(folder)
    write_router_json(folder, router)
    if split is not None:
        write_split(folder, split)
    elif split_from is not None:
        copy_split(split_from, folder)
    for name, data in (records or {}).items():
        if data is not None:
            atomic_write_json(folder / name, data)
