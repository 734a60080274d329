"""Offline batch routing of whole files (`router route`): chunked I/O and the local / Ray Data engines."""

from llm_router.batch.io import ChunkWriter, count_rows, read_chunks, stream_format
from llm_router.batch.route import BatchRouteConfig, annotate, route_file

__all__ = [
    "BatchRouteConfig",
    "ChunkWriter",
    "annotate",
    "count_rows",
    "read_chunks",
    "route_file",
    "stream_format",
]
