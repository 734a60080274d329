"""Load a user's labelled queries from CSV, TSV, JSONL or Parquet, and check them.

Every problem a user can cause (missing file, bad encoding, wrong column, empty texts, too few classes...) becomes a
:class:`~llm_router.errors.RouterError` with a one-line message that says what to fix.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import pandas as pd

from llm_router.errors import RouterError

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class DataWarning(UserWarning):
    """Something in the data was dropped or looks wrong, but the run can go on."""


def demo_data_path() -> Path:
    """The bundled demo set (original queries written for this project; columns text, label, intent)."""
    return Path(str(resources.files("llm_router.data").joinpath("demo/demo_queries.csv")))


def _detect_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(set(FORMATS)))
        raise RouterError(f"{path}: unknown format '{path.suffix or '(no extension)'}' (known: {known})")
    return fmt


def _decode_utf8(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RouterError(
            f"{path}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} on line {line}); re-save the file as UTF-8"
        ) from None


def parse_jsonl_line(path: Path, lineno: int, line: str) -> dict:
    """One JSON Lines record (a JSON object), or a one-line error naming the file and line."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RouterError(f"{path}: line {lineno} is not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise RouterError(f"{path}: line {lineno} is not a JSON object")
    return obj


def read_table(path: str | Path) -> pd.DataFrame:
    """Read any supported file into a DataFrame of strings (no dtype guessing for text columns)."""
    path = Path(path)
    if not path.exists():
        raise RouterError(f"{path}: no such file")
    if path.is_dir():
        raise RouterError(f"{path}: is a folder, not a data file")
    fmt = _detect_format(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RouterError(f"{path}: cannot read ({exc.strerror})") from None
    if not raw.strip():
        raise RouterError(f"{path}: file is empty")
    try:
        if fmt == "parquet":
            return pd.read_parquet(io.BytesIO(raw))
        text = _decode_utf8(path, raw)
        if fmt in ("csv", "tsv"):
            return pd.read_csv(
                io.StringIO(text),
                sep="," if fmt == "csv" else "\t",
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                quoting=csv.QUOTE_MINIMAL,
            )
        if fmt == "json":
            data = json.loads(text)
            if isinstance(data, dict):
                data = data.get("data", data.get("rows"))
            if not isinstance(data, list):
                raise RouterError(
                    f"{path}: JSON must be a list of objects (or use .jsonl, one object per line)"
                )
            return pd.DataFrame(data)
        rows = [
            parse_jsonl_line(path, n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()
        ]
        return pd.DataFrame(rows)
    except RouterError:
        raise
    except pd.errors.EmptyDataError:
        raise RouterError(f"{path}: file is empty") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        msg = " ".join(str(exc).split())
        raise RouterError(f"{path}: cannot parse as {fmt} ({msg})") from None
    except Exception as exc:  # pyarrow errors and the like
        msg = " ".join(str(exc).split())[:200]
        raise RouterError(f"{path}: cannot parse as {fmt} ({type(exc).__name__}: {msg})") from None


def _is_blank(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or not str(value).strip()


def load_dataset(
    path: str | Path | None = None,
    text_col: str = "text",
    label_col: str = "label",
    *,
    labels: Sequence[str] | None = None,
    strict: bool = False,
    extra_cols: Sequence[str] = (),
) -> pd.DataFrame:
    """Load and validate labelled queries.

    Returns a DataFrame with columns ``text`` and ``label`` (strings, stripped) plus each of ``extra_cols`` under its
    own name (e.g. ``intent`` for intent-level training, a group column for grouped splits). ``path=None`` loads the
    bundled demo set. Rows with empty text are dropped with a :class:`DataWarning` (an error with ``strict``).
    """
    path = demo_data_path() if path is None else Path(path)
    df = read_table(path)
    if len(df) == 0:
        raise RouterError(f"{path}: no rows")
    df.columns = [str(c) for c in df.columns]
    existing = ", ".join(df.columns)
    for role, col in [("text", text_col), ("label", label_col)] + [("extra", c) for c in extra_cols]:
        if col not in df.columns:
            raise RouterError(f"{path}: no {role} column '{col}' (columns: {existing})")

    out = pd.DataFrame({"text": df[text_col], "label": df[label_col]})
    for col in extra_cols:
        if col not in ("text", "label"):
            out[col] = df[col].map(lambda v: None if _is_blank(v) else str(v).strip())

    blank_text = out["text"].map(_is_blank)
    if blank_text.any():
        n = int(blank_text.sum())
        if n == len(out):
            raise RouterError(f"{path}: every row has an empty '{text_col}'")
        if strict:
            raise RouterError(f"{path}: {n} row(s) with empty or missing text in '{text_col}' (--strict)")
        warnings.warn(
            f"{path}: dropped {n} row(s) with empty or missing text in '{text_col}'",
            DataWarning,
            stacklevel=2,
        )
        out = out[~blank_text]
    blank_label = out["label"].map(_is_blank)
    if blank_label.any():
        rows = [str(i + 2) for i in out.index[blank_label][:5]]  # +2: header line and 1-based numbering
        raise RouterError(
            f"{path}: {int(blank_label.sum())} row(s) with a missing label in '{label_col}' "
            f"(data lines {', '.join(rows)}{'...' if blank_label.sum() > 5 else ''})"
        )

    out["text"] = out["text"].map(lambda t: str(t).strip())
    out["label"] = out["label"].map(lambda t: str(t).strip())
    if labels:
        allowed = set(labels)
        bad = sorted(set(out["label"]) - allowed)
        if bad:
            raise RouterError(
                f"{path}: label(s) {', '.join(map(repr, bad))} not in --labels ({', '.join(labels)})"
            )
    n_classes = out["label"].nunique()
    if n_classes < 2:
        only = out["label"].iloc[0]
        raise RouterError(f"{path}: need at least two classes in '{label_col}', found only {only!r}")
    out = out.reset_index(drop=True)
    out.attrs["source"] = str(path)
    out.attrs["text_col"] = text_col
    out.attrs["label_col"] = label_col
    return out
