"""benchmarks/peers.py: semantic-router beside ours, on a tiny synthetic set with a tiny hashing encoder (no model,
no download). Skips cleanly where the optional `peers` extra (semantic-router) is not installed."""

from __future__ import annotations

import json
import sys
import zlib

import numpy as np
import pytest

from benchmark_scripts import load_benchmark

pytestmark = pytest.mark.timeout(180)

ROUTES = {
    "Claude": ["write a poem about {x}", "draft a letter to my {x}", "translate {x} into french"],
    "gpt-o1": [
        "write python code that sorts {x}",
        "debug this sql query on {x}",
        "explain the theorem of {x}",
    ],
    "gemini-mini": ["hi, how is {x} today", "what time is it in {x}", "recommend a snack for {x}"],
}
FILLERS = [
    "the sea",
    "tokyo",
    "my boss",
    "coffee",
    "the moon",
    "a red bicycle",
    "old friends",
    "lima",
    "dates",
]


def synthetic():
    rows = [(t.format(x=x), route) for route, ts in ROUTES.items() for t in ts for x in FILLERS]
    rng = np.random.default_rng(0)
    rng.shuffle(rows)
    cut = int(0.7 * len(rows))
    return rows[:cut], rows[cut:]


def hash_embed(texts, dim: int = 128) -> np.ndarray:
    """A tiny deterministic encoder: hashed bag of words, L2-normalised."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in str(text).lower().split():
            out[i, zlib.crc32(word.encode()) % dim] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


class HashEmbedder:
    def __init__(self, model: str = "hash", batch_size: int = 32):
        self.model_name = model

    def __call__(self, texts):
        return hash_embed(texts)

    def describe(self) -> str:
        return "hashed bag of words (test)"


def test_run_peers_scores_and_times_the_peer_beside_ours():
    pytest.importorskip("semantic_router")
    peers = load_benchmark("peers")
    train, test = synthetic()
    tr_x, tr_y = [t for t, _ in train], [r for _, r in train]
    te_x, te_y = [t for t, _ in test], [r for _, r in test]
    peer = peers.build_peer(
        tr_x, tr_y, hash_embed, encoder_name="hash", val_texts=te_x[:10], val_routes=te_y[:10]
    )
    ours = peers.build_tfidf(tr_x, tr_y)
    out = peers.run_peers(
        tr_x,
        tr_y,
        te_x,
        te_y,
        [ours, peer],
        timed_extra={"encoder alone": lambda t: hash_embed([t])},
        latency_queries=len(te_x) + 7,
        warmup=2,
        n_boot=50,
    )
    assert out["labels"] == sorted(ROUTES)
    assert out["n_test"] == len(te_x) and out["latency_calls"] == len(te_x) + 7
    by_name = {r["system"]: r for r in out["results"]}
    assert set(by_name) == {ours.name, peer.name}
    result = by_name[peer.name]
    # the templates are disjoint in wording across routes: nearest utterances route every test query right
    assert result["macro_f1"] > 0.9
    assert result["macro_f1_ci95"][0] <= result["macro_f1"] <= result["macro_f1_ci95"][1]
    assert 0 < result["p50_ms"] <= result["p99_ms"]
    assert result["cpu_mean_ms"] >= 0 and result["cpu_p50_ms"] >= 0
    assert result["latency_calls"] == len(te_x) + 7
    assert result["fit_seconds"] > 0
    assert result["single_vs_batch_agreement"] == 1.0
    assert result["details"]["utterances"] == {r: tr_y.count(r) for r in sorted(ROUTES)}
    # Platt needs right and wrong top-1 routes on the validation texts; here every one is right, so it says why
    calibration = result["details"]["calibration"]
    assert calibration.get("method") == "platt" or "both correct and incorrect" in calibration["error"]
    assert by_name[ours.name]["macro_f1"] > 0.9
    assert out["timed_only"][0]["system"] == "encoder alone"


def test_main_with_an_ours_folder_uses_its_split_and_writes_json(tiny_classifier_dir, tmp_path, monkeypatch):
    pytest.importorskip("semantic_router")
    from llm_router.persistence import load_folder_data

    peers = load_benchmark("peers")
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM"):  # main() sets them
        monkeypatch.setenv(var, "1" if var != "TOKENIZERS_PARALLELISM" else "false")
    monkeypatch.setattr(peers, "E5Embedder", HashEmbedder)
    out_path = tmp_path / "peers.json"
    args = ["--ours", str(tiny_classifier_dir), "--latency-queries", "5", "--warmup", "1", "--n-boot", "20"]
    assert peers.main([*args, "--json", str(out_path)]) == 0
    out = json.loads(out_path.read_text())
    folder = load_folder_data(tiny_classifier_dir)
    assert out["n_train"] == len(folder.train) and out["n_test"] == len(folder.test)
    systems = [r["system"] for r in out["results"]]
    assert systems[0].startswith("ours: model") and systems[1].startswith("semantic-router")
    peer = out["results"][1]
    assert (
        out["latency_calls"] == 5 and peer["latency_calls"] == 5
    )  # the rest of the test set went in batches
    assert peer["report"]["n"] == len(folder.test) and out["results"][0]["report"]["n"] == len(folder.test)
    assert peer["single_vs_batch_agreement"] == 1.0 and out["results"][0]["single_vs_batch_agreement"] == 1.0
    assert sum(peer["details"]["utterances"].values()) == len(folder.train)
    assert out["unavailable"] == []
    assert out["environment"]["threads"] == 1 and "load_before" in out["environment"]


def test_without_semantic_router_the_peer_row_says_why(tmp_path, monkeypatch, capsys):
    """No skip: this is what CI without the extra sees. Ours is still measured."""
    peers = load_benchmark("peers")
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM"):  # main() sets them
        monkeypatch.setenv(var, "1" if var != "TOKENIZERS_PARALLELISM" else "false")
    monkeypatch.setitem(sys.modules, "semantic_router", None)  # import fails as if not installed
    monkeypatch.setattr(peers, "E5Embedder", HashEmbedder)
    out_path = tmp_path / "peers.json"
    assert (
        peers.main(["--latency-queries", "3", "--warmup", "1", "--n-boot", "20", "--json", str(out_path)])
        == 0
    )
    out = json.loads(out_path.read_text())
    assert [r["system"] for r in out["results"]] == ["ours: TF-IDF char 1-4 + LogReg (no --ours folder)"]
    assert out["unavailable"][0]["system"] == "semantic-router"
    assert "not installed" in out["unavailable"][0]["reason"]
    assert "could not run" in capsys.readouterr().out
