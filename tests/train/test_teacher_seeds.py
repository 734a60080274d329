"""benchmarks/teacher_seeds.py: a teacher's recipe refitted with other seeds on its own split (tiny BERT).

Here, not in tests/bench, because it needs this package's tiny encoder fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark_scripts import load_benchmark
from llm_router.data import load_dataset
from llm_router.errors import RouterError
from llm_router.train.config import TrainConfig
from llm_router.train.fit import train


def _teacher(tiny_bert_dir, toy_df, tmp_path) -> Path:
    """A `router train` folder whose data file holds exactly the rows it was trained on."""
    csv = tmp_path / "toy.csv"
    toy_df[["text", "label"]].to_csv(csv, index=False)
    df = load_dataset(csv)
    out = tmp_path / "teacher"
    config = TrainConfig(model=str(tiny_bert_dir), epochs=2, learning_rate=1e-3, batch_size=16)
    train(df, config, out, progress=False)
    return out


def test_the_refit_with_the_original_seed_reproduces_the_teacher(tiny_bert_dir, toy_df, tmp_path):
    mod = load_benchmark("teacher_seeds")
    teacher = _teacher(tiny_bert_dir, toy_df, tmp_path)
    block = mod.refit(teacher, [42, 43], threads=1)
    assert set(block["runs"]) == {"42", "43"}
    assert block["routes"]["42"] == block["routes"]["original"]  # same split, same order, same seed
    stats = mod.pairwise(block)
    assert stats["pairs"]["original~42"]["agreement"] == 1.0
    # the original and its own seed's refit are one member: the only pair of two seeds is 42~43
    assert stats["different_seeds"]["pairs"] == 1
    assert stats["different_seeds"]["mean"] == stats["pairs"]["42~43"]["agreement"]
    lo, hi = stats["pairs"]["42~43"]["ci95"]
    assert lo <= stats["pairs"]["42~43"]["agreement"] <= hi
    # the teacher folder itself, read back through the Predictor, agrees with the original on every test text
    info = mod.stability(block, teacher, [teacher])
    assert info["stable"] + info["seed_dependent"] == block["n_test"]
    row = info["artefacts"][teacher.name]
    assert row["disagreements"] == 0 and row["agreement_stable"] == 1.0
    refits = zip(block["routes"]["42"], block["routes"]["43"], strict=True)
    assert info["seed_dependent"] == sum(a != b for a, b in refits)


def test_a_changed_data_file_is_refused(tiny_bert_dir, toy_df, tmp_path):
    mod = load_benchmark("teacher_seeds")
    teacher = _teacher(tiny_bert_dir, toy_df, tmp_path)
    csv = tmp_path / "toy.csv"
    csv.write_text(csv.read_text().replace("\n", "\nan extra row,Claude\n", 1))
    with pytest.raises(RouterError, match="does not give"):
        mod.refit(teacher, [42], threads=1)
