"""`router route`: every format in and out, chunked, blank texts, atomic output, one-line errors (exit 2); the
Ray Data engine on a local loopback instance (slow)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from llm_router.batch import BatchRouteConfig, ChunkWriter, read_chunks, route_file
from llm_router.cli import app
from llm_router.errors import RouterError
from llm_router.serve import FakePredictor

pytestmark = pytest.mark.timeout(120)
ROUTES = ["Claude", "gemini-mini", "gpt-o1"]


def _frame(n: int = 23) -> pd.DataFrame:
    texts = [f"query number {i}, with a comma" if i % 7 else "" for i in range(n)]
    return pd.DataFrame({"query": texts, "id": [str(i) for i in range(n)]})


def _write(df: pd.DataFrame, path):
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    elif path.suffix == ".jsonl":
        df.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        df.to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")
    return path


def _read(path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", dtype={"id": str})


@pytest.mark.parametrize(("src", "dst"), [(".csv", ".parquet"), (".jsonl", ".csv"), (".parquet", ".jsonl"),
                                          (".tsv", ".tsv")])  # fmt: skip
def test_routes_every_row_in_chunks_across_formats(tmp_path, src, dst):
    df = _frame()
    data = _write(df, tmp_path / f"in{src}")
    out = tmp_path / f"out{dst}"
    seen = []
    result = route_file(
        BatchRouteConfig(model="fake:0", data=str(data), out=str(out), text_col="query", chunk_size=5),
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert result["rows"] == 23 and result["blank_texts"] == 4
    assert [d for d, _ in seen] == [5, 10, 15, 20, 23] and seen[-1][1] == 23
    got = _read(out)
    assert list(got.columns) == ["query", "id", "route", "confidence", *(f"p_{r}" for r in ROUTES)]
    assert got["id"].astype(str).tolist() == df["id"].tolist()  # input order kept
    fake = FakePredictor()
    for row in got.to_dict("records"):
        if int(row["id"]) % 7 == 0:
            assert pd.isna(row["route"]) or row["route"] == ""
            continue
        expected = fake.scores(row["query"])
        assert [row[f"p_{r}"] for r in ROUTES] == pytest.approx(expected)
        assert row["route"] == ROUTES[int(np.argmax(expected))]
        assert row["confidence"] == pytest.approx(max(expected))
    assert sum(result["routes"].values()) == 19
    assert not list(tmp_path.glob(".out*"))  # no temporary file left


def test_read_chunks_bounds_the_chunk(tmp_path):
    data = _write(_frame(10), tmp_path / "in.jsonl")
    assert [len(c) for c in read_chunks(data, 4)] == [4, 4, 2]


def test_failure_leaves_no_output(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    with pytest.raises(RuntimeError), ChunkWriter(out) as writer:
        writer.write(pd.DataFrame({"a": [1]}))
        raise RuntimeError("boom")
    assert out.read_text() == "old\n"
    assert not list(tmp_path.glob(".out*"))


def test_cli_writes_summary_and_json(tmp_path):
    data = _write(_frame(), tmp_path / "in.csv")
    out, summary = tmp_path / "out.parquet", tmp_path / "summary.json"
    args = ["route", "--model", "fake:0", "--data", str(data), "--out", str(out), "--text-col", "query",
            "--chunk-size", "8", "--json", str(summary)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "routed 23 rows" in result.output
    assert json.loads(summary.read_text())["rows"] == 23
    assert len(pd.read_parquet(out)) == 23


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["--data", "{tmp}/missing.csv"], "no such file"),
        ("in.csv", ["--out", "{tmp}/out.xlsx"], "unsupported output format"),
        ("in.json", ["--data", "{tmp}/in.json"], "use .jsonl"),
        ("in.csv", ["--text-col", "nope"], "no text column 'nope'"),
        ("in.csv", ["--model", "{tmp}/no-model"], ""),
        ("in.csv", ["--workers", "2"], "needs --engine ray"),
        ("in.csv", ["--engine", "spark"], "local or ray"),
        ("bad.jsonl", ["--data", "{tmp}/bad.jsonl"], "line 2 is not valid JSON"),
        ("latin1.csv", ["--data", "{tmp}/latin1.csv"], "UTF-8"),
        ("clash.csv", ["--data", "{tmp}/clash.csv"], "--no-keep-columns"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, setup, args, message):
    _write(_frame(5).rename(columns={"query": "text"}), tmp_path / "in.csv")
    (tmp_path / "in.json").write_text("[]")
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n{"text": \n')
    (tmp_path / "latin1.csv").write_bytes("text\ncaf\xe9\n".encode("latin-1"))
    (tmp_path / "clash.csv").write_text("text,route\nhello,x\n")
    base = {"--model": "fake:0", "--data": str(tmp_path / "in.csv"), "--out": str(tmp_path / "out.csv")}
    extra = [a.replace("{tmp}", str(tmp_path)) for a in args]
    for key in list(base):
        if key in extra:
            del base[key]
    cli = ["route", *[x for kv in base.items() for x in kv], *extra]
    result = CliRunner().invoke(app, cli)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert message in result.output
    assert not (tmp_path / "out.csv").exists()


def test_config_refuses_same_input_and_output(tmp_path):
    with pytest.raises(RouterError, match="must not be the input"):
        BatchRouteConfig(model="fake:0", data=str(tmp_path / "a.csv"), out=str(tmp_path / "a.csv"))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ray_workers_share_this_machines_cores_unless_told(tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    files = {"model": "fake:0", "data": str(tmp_path / "in.csv"), "out": str(tmp_path / "out.csv")}
    assert BatchRouteConfig(**files, engine="ray", workers=1).worker_threads == 8  # all cores, as local has
    assert BatchRouteConfig(**files, engine="ray", workers=3).worker_threads == 2
    assert BatchRouteConfig(**files, engine="ray", workers=16).worker_threads == 1
    assert BatchRouteConfig(**files, engine="ray", workers=2, threads=3).worker_threads == 3
    # on a cluster joined with an address the nodes' cores are not this machine's
    assert BatchRouteConfig(**files, engine="ray", address="auto").worker_threads == 1


def test_ray_data_engine_matches_local(tmp_path):
    df = _frame(12)
    data = _write(df, tmp_path / "in.csv")
    local, remote = tmp_path / "local.csv", tmp_path / "ray.csv"
    route_file(
        BatchRouteConfig(model="fake:0", data=str(data), out=str(local), text_col="query", chunk_size=4)
    )
    result = route_file(BatchRouteConfig(model="fake:0", data=str(data), out=str(remote), text_col="query",
                                         chunk_size=4, engine="ray", workers=2))  # fmt: skip
    assert result["rows"] == 12
    a, b = _read(local), _read(remote)
    assert a["route"].fillna("").tolist() == b["route"].fillna("").tolist()
    assert a["confidence"].tolist() == pytest.approx(b["confidence"].tolist(), nan_ok=True)
