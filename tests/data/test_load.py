"""Loading and validation: every bad input is one clear line and exit code 2 (CliRunner), never a traceback."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from llm_router.cli import app
from llm_router.data import DataWarning, load_dataset
from llm_router.errors import RouterError

runner = CliRunner()

ROWS = [
    ("코드 리뷰 해줘", "gpt-o1"),
    ("이메일 써줘", "Claude"),
    ("오늘 날씨 어때", "gemini-mini"),
    ("파이썬 질문", "gpt-o1"),
    ("번역 부탁해", "Claude"),
    ("점심 추천", "gemini-mini"),
]


def write_csv(path, rows=ROWS, header=("text", "label")):
    pd.DataFrame(rows, columns=list(header)).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_loads_every_format(tmp_path, suffix):
    df = pd.DataFrame(ROWS, columns=["q", "route"])
    path = tmp_path / f"d{suffix}"
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".tsv":
        df.to_csv(path, sep="\t", index=False)
    elif suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in df.to_dict("records")), "utf-8")
    else:
        df.to_parquet(path)
    out = load_dataset(path, text_col="q", label_col="route")
    assert list(out.columns) == ["text", "label"]
    assert out["text"].tolist() == [t for t, _ in ROWS]
    assert out["label"].tolist() == [lab for _, lab in ROWS]


def test_demo_set_is_the_default():
    df = load_dataset(extra_cols=["intent"])
    assert len(df) >= 500 and {"text", "label", "intent"} <= set(df.columns)


def test_empty_text_rows_are_dropped_with_warning_or_refused_when_strict(tmp_path):
    path = write_csv(tmp_path / "d.csv", ROWS + [("", "Claude"), ("   ", "gpt-o1")])
    with pytest.warns(DataWarning, match="dropped 2 row"):
        df = load_dataset(path)
    assert len(df) == len(ROWS)
    with pytest.raises(RouterError, match="2 row"):
        load_dataset(path, strict=True)


def test_extra_columns_are_kept(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame(
        [(t, lab, f"i{i % 3}") for i, (t, lab) in enumerate(ROWS)], columns=["text", "label", "intent"]
    ).to_csv(path, index=False)
    df = load_dataset(path, extra_cols=["intent"])
    assert df["intent"].tolist() == [f"i{i % 3}" for i in range(len(ROWS))]


def _bad_inputs(tmp_path):
    """(name, file, extra CLI args, expected message fragment)"""
    cases = []
    cases.append(("missing file", tmp_path / "nope.csv", [], "no such file"))
    bad_utf8 = tmp_path / "latin1.csv"
    bad_utf8.write_bytes("text,label\nok,gpt-o1\ncaf\xe9,Claude\n".encode("latin-1"))
    cases.append(("non-utf8", bad_utf8, [], "not valid UTF-8 (byte 0xe9 on line 3)"))
    unknown = tmp_path / "d.xlsx"
    unknown.write_text("x", "utf-8")
    cases.append(("unknown format", unknown, [], "unknown format '.xlsx'"))
    cases.append(
        (
            "missing column",
            write_csv(tmp_path / "cols.csv", header=("query", "label")),
            [],
            "no text column 'text' (columns: query, label)",
        )
    )
    empty = tmp_path / "empty.csv"
    empty.write_text("", "utf-8")
    cases.append(("empty file", empty, [], "file is empty"))
    header_only = tmp_path / "header.csv"
    header_only.write_text("text,label\n", "utf-8")
    cases.append(("header only", header_only, [], "no rows"))
    cases.append(
        (
            "empty text strict",
            write_csv(tmp_path / "blank.csv", ROWS + [("", "Claude")]),
            ["--strict"],
            "1 row(s) with empty or missing text",
        )
    )
    cases.append(
        (
            "missing label",
            write_csv(tmp_path / "nolabel.csv", ROWS + [("질문", "")]),
            [],
            "1 row(s) with a missing label in 'label' (data lines 8)",
        )
    )
    cases.append(
        (
            "one class",
            write_csv(tmp_path / "one.csv", [(t, "Claude") for t, _ in ROWS]),
            [],
            "need at least two classes",
        )
    )
    cases.append(
        (
            "label outside set",
            write_csv(tmp_path / "ok.csv"),
            ["--labels", "gpt-o1,Claude"],
            "label(s) 'gemini-mini' not in --labels",
        )
    )
    return cases


def test_every_bad_input_is_one_line_and_exit_2(tmp_path):
    for name, path, extra, fragment in _bad_inputs(tmp_path):
        result = runner.invoke(app, ["analyze", "--data", str(path), "--model", "", *extra])
        assert result.exit_code == 2, (name, result.output)
        err = result.stderr.strip()
        assert fragment in err, (name, err)
        assert len(err.splitlines()) == 1, (name, err)
        assert "Traceback" not in result.output, name


def test_bad_parquet_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not a parquet file at all")
    with pytest.raises(RouterError, match="cannot parse as parquet"):
        load_dataset(path)


def test_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{broken\n', "utf-8")
    with pytest.raises(RouterError, match="line 2 is not valid JSON"):
        load_dataset(path)
