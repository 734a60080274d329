"""`router analyze`: the numbers, on hand-made data and on the real seed file."""

import json

import pandas as pd
from typer.testing import CliRunner

from llm_router.cli import app
from llm_router.data import analyze_dataset
from llm_router.data.analyze import text_script


def test_scripts():
    assert text_script("오늘 날씨 어때?") == "hangul"
    assert text_script("今日の天気は？") == "kana"
    assert text_script("天气怎么样") == "han"
    assert text_script("What's the weather") == "latin"
    assert text_script("1234 !!") == "other"


def test_counts_on_hand_made_data():
    df = pd.DataFrame(
        {"text": ["a b", "a b", "c", "d e f", "g", "h"], "label": ["x", "x", "y", "y", "y", "z"]}
    )
    res = analyze_dataset(df)
    assert res["rows"] == 6 and res["distinct_texts"] == 5 and res["duplicate_rows"] == 1
    assert res["label_counts"] == {"y": 3, "x": 2, "z": 1}
    assert res["imbalance_ratio"] == 3.0 and res["imbalance_ratio_dedup"] == 3.0
    assert res["length"]["words"]["max"] == 3
    assert any("only 1 distinct" in w for w in res["warnings"])


def test_cli_on_seed_file(seed_csv, tmp_path):
    out = tmp_path / "a.json"
    result = CliRunner().invoke(
        app,
        [
            "analyze",
            "--data",
            str(seed_csv),
            "--text-col",
            "user_message",
            "--label-col",
            "llm",
            "--model",
            "",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    res = json.loads(out.read_text("utf-8"))
    assert (res["rows"], res["distinct_texts"], res["duplicate_rows"]) == (495, 383, 112)
    assert sorted(res["label_counts"].values()) == [95, 200, 200]
    assert res["label_counts_dedup"] == {"Claude": 161, "gpt-o1": 127, "gemini-mini": 95}
    assert res["scripts"]["hangul"]["rows"] > 400
    for key in (
        "rows",
        "distinct_texts",
        "duplicate_rows",
        "conflicting_duplicates",
        "label_counts",
        "imbalance_ratio",
        "imbalance_ratio_dedup",
        "length",
        "scripts",
        "warnings",
    ):
        assert key in res
