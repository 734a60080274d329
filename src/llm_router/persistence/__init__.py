"""The model-folder format (docs/ARTEFACTS.md), written and read in one place: ``router.json`` (labels, routes,
route map, text prefix, data source), ``split.json`` (held-out rows by text hash) and the JSON records beside them.
Every stage writes its folder through :func:`write_model_files` and re-loads a folder's data split through
:func:`load_folder_data` / :func:`load_split_frame`."""

from llm_router.persistence.folder import write_model_files
from llm_router.persistence.router_json import (
    DEFAULT_MAX_LENGTH,
    KINDS,
    ROUTER_FILE,
    ROUTER_FORMAT,
    RouterInfo,
    detect_kind,
    read_router_info,
    read_router_json,
    router_record,
    write_router_json,
)
from llm_router.persistence.split import (
    SPLIT_FILE,
    FolderData,
    copy_split,
    data_source,
    load_folder_data,
    load_split_frame,
    read_split,
    split_part,
    write_split,
)

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "KINDS",
    "ROUTER_FILE",
    "ROUTER_FORMAT",
    "SPLIT_FILE",
    "FolderData",
    "RouterInfo",
    "copy_split",
    "data_source",
    "detect_kind",
    "load_folder_data",
    "load_split_frame",
    "read_router_info",
    "read_router_json",
    "read_split",
    "router_record",
    "split_part",
    "write_model_files",
    "write_router_json",
    "write_split",
]
