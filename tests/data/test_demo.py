"""The bundled demo set: packaged, readable, and shaped the way the README says."""

from __future__ import annotations

import csv
import io
import re
from importlib import resources

import pandas as pd
import pytest

ROUTES = {"gpt-o1", "Claude", "gemini-mini"}
HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")


@pytest.fixture(scope="module")
def demo_text() -> str:
    resource = resources.files("llm_router.data").joinpath("demo/demo_queries.csv")
    assert resource.is_file(), "demo/demo_queries.csv is not shipped inside the llm_router.data package"
    return resource.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def demo(demo_text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(demo_text), keep_default_na=False)


def test_columns_and_size(demo: pd.DataFrame):
    assert list(demo.columns) == ["text", "label", "intent"]
    assert len(demo) >= 500


def test_every_row_is_well_formed(demo_text: str, demo: pd.DataFrame):
    rows = list(csv.reader(io.StringIO(demo_text)))
    assert all(len(row) == 3 for row in rows)
    assert len(rows) == len(demo) + 1  # header + one physical line per row: no embedded newlines
    assert (demo["text"].str.strip() != "").all()
    assert not demo["text"].str.contains("\n").any()


def test_routes_are_imbalanced_like_real_traffic(demo: pd.DataFrame):
    counts = demo["label"].value_counts()
    assert set(counts.index) == ROUTES
    assert counts["gemini-mini"] / counts["gpt-o1"] >= 2.5


def test_each_intent_maps_to_exactly_one_route(demo: pd.DataFrame):
    routes_per_intent = demo.groupby("intent")["label"].nunique()
    assert (routes_per_intent == 1).all(), routes_per_intent[routes_per_intent > 1].to_dict()
    assert 12 <= demo["intent"].nunique() <= 18


def test_mostly_korean_with_some_duplicates(demo: pd.DataFrame):
    assert demo["text"].map(lambda t: bool(HANGUL.search(t))).mean() >= 0.5
    duplicated = demo.duplicated().sum()
    assert (
        1 <= duplicated <= 0.05 * len(demo)
    )  # real logs repeat queries, but the set is not padded with copies


def test_load_dataset_reads_the_demo_set_by_default(demo: pd.DataFrame):
    from llm_router.data import load_dataset

    loaded = load_dataset(extra_cols=("intent",))
    assert len(loaded) == len(demo)
    assert set(loaded["label"]) == ROUTES
    assert loaded["intent"].nunique() == demo["intent"].nunique()
