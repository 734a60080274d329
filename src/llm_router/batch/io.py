"""Chunked table I/O for batch routing: read CSV/TSV/JSONL/Parquet a chunk at a time, write the same formats
incrementally, and publish the output atomically.

Readers yield pandas DataFrames of at most ``chunk_size`` rows, so memory stays bounded by the chunk whatever
the file size: CSV/TSV through pandas' chunked C reader (all columns as strings, like ``data.load``), JSONL line
by line (one JSON object per line; a bad line names its number), Parquet through ``pyarrow``'s
``ParquetFile.iter_batches``. Whole-file ``.json`` is refused (it cannot be streamed: use ``.jsonl``).

:class:`ChunkWriter` appends chunks to a temporary file beside the target (``.NAME.tmp-PID``) and renames it
over the target on success; on failure the temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from llm_router.data.load import parse_jsonl_line
from llm_router.errors import RouterError

STREAM_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def stream_format(path: str | Path, role: str = "input") -> str:
    """The streaming format of ``path`` from its extension; anything else is a one-line error."""
    path = Path(path)
    fmt = STREAM_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(STREAM_FORMATS))
        hint = " (whole-file JSON cannot be streamed: use .jsonl)" if path.suffix.lower() == ".json" else ""
        raise RouterError(
            f"{path}: unsupported {role} format '{path.suffix or '(none)'}' (known: {known}){hint}"
        )
    return fmt


def count_rows(path: str | Path) -> int | None:
    """Rows in ``path``, cheaply: Parquet metadata, or newlines for CSV/JSONL (an estimate when quoted fields
    hold newlines). Used for the progress bar only."""
    path = Path(path)
    fmt = stream_format(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        lines, last = 0, b"\n"
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
        lines += last != b"\n"
        return max(0, lines - (1 if fmt in ("csv", "tsv") else 0))
    except Exception:
        return None


def _check_input(path: Path) -> None:
    if not path.exists():
        raise RouterError(f"{path}: no such file")
    if path.is_dir():
        raise RouterError(f"{path}: is a folder, not a data file")
    if path.stat().st_size == 0:
        raise RouterError(f"{path}: file is empty")


def _read_jsonl(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    rows: list[dict] = []
    with open(path, encoding="utf-8-sig", errors="strict") as f:
        lineno = 0
        while True:
            try:
                line = f.readline()
            except UnicodeDecodeError:
                raise RouterError(
                    f"{path}: not valid UTF-8 after line {lineno}; re-save the file as UTF-8"
                ) from None
            if not line:
                break
            lineno += 1
            if line.strip():
                rows.append(parse_jsonl_line(path, lineno, line))
            if len(rows) >= chunk_size:
                yield pd.DataFrame(rows)
                rows = []
    if rows:
        yield pd.DataFrame(rows)


def read_chunks(path: str | Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    """DataFrames of at most ``chunk_size`` rows, in file order. Errors are one-line :class:`RouterError`."""
    path = Path(path)
    fmt = stream_format(path)
    _check_input(path)
    if chunk_size < 1:
        raise RouterError(f"--chunk-size must be >= 1, got {chunk_size}")
    try:
        if fmt == "jsonl":
            yield from _read_jsonl(path, chunk_size)
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size):
                yield batch.to_pandas()
        else:
            reader = pd.read_csv(
                path,
                sep="," if fmt == "csv" else "\t",
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                quoting=csv.QUOTE_MINIMAL,
                chunksize=chunk_size,
                encoding="utf-8-sig",
            )
            with reader:
                yield from reader
    except RouterError:
        raise
    except UnicodeDecodeError:
        raise RouterError(f"{path}: not valid UTF-8; re-save the file as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise RouterError(f"{path}: file is empty") from None
    except Exception as exc:  # pandas parser errors, pyarrow errors
        msg = " ".join(str(exc).split())[:200]
        raise RouterError(f"{path}: cannot parse as {fmt} ({type(exc).__name__}: {msg})") from None


class ChunkWriter:
    """Append DataFrame chunks to ``path`` (format by extension) through a temporary file renamed on success.

    ``with ChunkWriter(out) as w: w.write(df)``: leaving the block normally publishes the file; an exception
    removes the temporary file.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.fmt = stream_format(self.path, "output")
        if not self.path.parent.exists():
            raise RouterError(f"{self.path.parent}: output folder does not exist")
        if self.path.is_dir():
            raise RouterError(f"{self.path}: is a folder")
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self._file = None
        self._parquet = None
        self._schema = None
        self.rows = 0

    def __enter__(self) -> ChunkWriter:
        if self.fmt != "parquet":
            self._file = open(self.tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        return self

    def write(self, df: pd.DataFrame) -> None:
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False)
            if self._parquet is None:
                fields = [
                    pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in table.schema
                ]  # an all-null column of the first chunk would fix its type to null
                self._schema = pa.schema(fields).remove_metadata()
                self._parquet = pq.ParquetWriter(self.tmp, self._schema)
            try:
                table = table.cast(self._schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                raise RouterError(
                    f"{self.path}: a chunk does not match the first one's columns ({exc})"
                ) from None
            self._parquet.write_table(table)
        elif self.fmt == "jsonl":
            text = df.to_json(orient="records", lines=True, force_ascii=False)
            self._file.write(text if text.endswith("\n") else text + "\n")
        else:
            df.to_csv(self._file, sep="," if self.fmt == "csv" else "\t", index=False, header=self.rows == 0)
        self.rows += len(df)

    def close(self, ok: bool) -> None:
        if self._file is not None:
            self._file.close()
        if self._parquet is not None:
            self._parquet.close()
        elif self.fmt == "parquet" and ok:  # no chunk at all: an empty file with no columns
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({}), self.tmp)
        if ok:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(exc_type is None)
