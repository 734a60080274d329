"""The early-exit model (`kind: early-exit`, `router exits`): cutting an ONNX encoder into segments, fitting exit
heads, choosing thresholds, and the folder routed by `Predictor.load` / `router compare` like any other model -
on the tiny INT8 BERT of tests/conftest.py (2 layers: one cut, after layer 1)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from llm_router.cli import app
from llm_router.distill.config import ExitsConfig
from llm_router.distill.exits import build_early_exit, default_exits, layer_outputs, split_segments
from llm_router.errors import RouterError
from llm_router.eval.cascade import score_combinations
from llm_router.persistence import load_folder_data, read_router_info
from llm_router.runtime import Predictor
from llm_router.runtime.early_exit import EarlyExitPredictor


@pytest.fixture(scope="module")
def exits_dir(tmp_path_factory, tiny_onnx_dir):
    out = tmp_path_factory.mktemp("early-exit") / "model"
    report = build_early_exit(
        ExitsConfig(model=str(tiny_onnx_dir), out=str(out), exits=[1], copies=2, probe_copies=2)
    )
    return out, report


def _test_texts(folder) -> list[str]:
    return list(load_folder_data(folder).test["text"])


def _with_thresholds(src, dst, thresholds):
    shutil.copytree(src, dst)
    raw = json.loads((dst / "router.json").read_text())
    raw["exits"] = [
        {"layer": e["layer"], "threshold": t} for e, t in zip(raw["exits"], thresholds, strict=True)
    ]
    (dst / "router.json").write_text(json.dumps(raw))
    return dst


def test_default_exits_place_cuts_at_fractions_of_the_depth():
    assert default_exits(12) == [2, 4, 6, 8]
    assert default_exits(6) == [1, 2, 3, 4]
    assert default_exits(2) == [1]


def test_the_last_segment_gives_the_whole_files_logits(tmp_path, tiny_onnx_dir):
    """Cutting recomputes nothing and changes nothing: segment after segment ends in the served file's logits."""
    import onnxruntime as ort

    from llm_router.runtime.tokenize import FastTokenizer

    _, info = read_router_info(tiny_onnx_dir)
    model = onnx.load(str(tiny_onnx_dir / info.onnx_file))
    outputs = layer_outputs(model)
    assert sorted(outputs) == [1, 2]
    files = split_segments(model, outputs, [1], tmp_path)
    first, last = (ort.InferenceSession(str(tmp_path / f)) for f in files)
    whole = ort.InferenceSession(str(tiny_onnx_dir / info.onnx_file))
    tokenizer = FastTokenizer.from_folder(tiny_onnx_dir, info.max_length, info.text_prefix)
    for text in _test_texts(tiny_onnx_dir)[:8]:
        feeds = tokenizer.encode([text])
        feeds = {i.name: feeds[i.name] for i in whole.get_inputs()}
        hidden = first.run(None, {i.name: feeds[i.name] for i in first.get_inputs()})[0]
        logits = last.run(
            None, {last.get_inputs()[0].name: hidden, "attention_mask": feeds["attention_mask"]}
        )[0]
        np.testing.assert_allclose(logits, whole.run(None, feeds)[0], atol=1e-5)


def test_build_writes_a_folder_every_runtime_tool_loads(exits_dir):
    out, report = exits_dir
    predictor = Predictor.load(out, threads=1)
    assert isinstance(predictor, EarlyExitPredictor) and predictor.kind == "early-exit"
    texts = _test_texts(out)
    pred = predictor.predict(texts)
    assert set(pred.routes) <= set(predictor.routes)
    np.testing.assert_allclose(pred.route_probs.sum(axis=1), 1.0, atol=1e-5)
    assert pred.levels.min() >= 0 and pred.levels.max() < len(predictor.level_names)
    counts, degraded = predictor.level_counts()
    assert sum(counts.values()) == len(texts) and degraded == 0
    assert report["candidate_exits"] == [1]
    assert abs(sum(report["shares"].values()) - 1.0) < 1e-9
    assert 0.0 <= report["agreement"] <= 1.0 and report["n_val"] > 0 and report["n_copies"] > 0
    written = json.loads((out / "exits.json").read_text())
    assert written["thresholds"] == report["thresholds"]
    assert not list(out.parent.glob(".model.tmp-*"))  # written atomically, no scratch left
    from llm_router.eval.compare import count_parameters, served_files

    folder, info = read_router_info(out)
    teacher_folder, teacher_info = read_router_info(report["model"])
    assert count_parameters(folder, info) > count_parameters(teacher_folder, teacher_info)  # + the heads
    assert {f.name for f in served_files(folder, info)} >= {*info.raw["segments"], "exit_heads.npz"}


def test_without_exits_it_routes_as_the_teacher_file(tmp_path, exits_dir, tiny_onnx_dir):
    """Every exit skipped: each text runs every segment and gets the INT8 file's own route."""
    out, _ = exits_dir
    n_exits = len(json.loads((out / "router.json").read_text())["exits"])
    if n_exits == 0:
        pytest.skip("the build kept no exit (nothing to skip)")
    folder = _with_thresholds(out, tmp_path / "none", [None] * n_exits)
    texts = _test_texts(out)
    ours = Predictor.load(folder, threads=1).predict(texts)
    teacher = Predictor.load(tiny_onnx_dir, threads=1).predict(texts)
    assert ours.routes == teacher.routes
    assert set(ours.levels.tolist()) == {n_exits}


def test_a_zero_threshold_answers_every_text_at_the_first_exit(tmp_path, tiny_onnx_dir):
    out = tmp_path / "forced"
    build_early_exit(ExitsConfig(model=str(tiny_onnx_dir), out=str(out), exits=[1], copies=0, probe_copies=0))
    folder = _with_thresholds(
        out, tmp_path / "zero", [0.0] * len(json.loads((out / "router.json").read_text())["exits"])
    )
    predictor = Predictor.load(folder, threads=1)
    if not predictor.exit_layers:
        pytest.skip("the build kept no exit")
    pred = predictor.predict(_test_texts(out))
    assert set(pred.levels.tolist()) == {0}
    assert predictor.level_shares()["exit-1"] == 1.0


def test_brownout_lets_the_first_exit_answer(tmp_path, exits_dir):
    out, _ = exits_dir
    n_exits = len(json.loads((out / "router.json").read_text())["exits"])
    if n_exits == 0:
        pytest.skip("the build kept no exit")
    predictor = Predictor.load(_with_thresholds(out, tmp_path / "skip", [None] * n_exits), threads=1)
    pred = predictor.predict_degraded(_test_texts(out)[:5], drop=1)
    assert set(pred.levels.tolist()) == {n_exits - 1}
    assert predictor.level_counts()[1] == 5


def test_skipped_exits_still_cost_their_segment():
    top = [np.array([0.9, 0.2]), np.array([1.0, 1.0])]
    agrees = [np.array([True, False]), np.array([True, True])]
    costs = [1.0, 3.0]
    skipped = [s for s in score_combinations(top, agrees, costs, always_paid=True) if s[0][0] is None]
    assert skipped and all(cost == pytest.approx(4.0) for _, _, cost in skipped)
    cascade = [s for s in score_combinations(top, agrees, costs) if s[0][0] is None]
    assert all(cost == pytest.approx(3.0) for _, _, cost in cascade)


def test_bad_sources_and_folders_are_refused(tmp_path, tiny_classifier_dir, tiny_onnx_dir, exits_dir):
    with pytest.raises(RouterError, match="ONNX folder"):
        build_early_exit(ExitsConfig(model=str(tiny_classifier_dir), out=str(tmp_path / "x")))
    with pytest.raises(RouterError, match="below the model's 2 layers"):
        build_early_exit(ExitsConfig(model=str(tiny_onnx_dir), out=str(tmp_path / "y"), exits=[2]))
    assert not (tmp_path / "y").exists()
    with pytest.raises(RouterError, match="layer numbers"):
        ExitsConfig(model="m", out="o", exits=[0])
    out, _ = exits_dir
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    raw = json.loads((broken / "router.json").read_text())
    raw["exits"] = [{"threshold": 0.5}] * (len(raw["segments"]) - 1)  # no layer
    raw["segments"] = (
        raw["segments"] if raw["exits"] else [*raw["segments"], "extra.onnx"]
    )  # else: a bad count
    (broken / "router.json").write_text(json.dumps(raw))
    with pytest.raises(RouterError):
        Predictor.load(broken)
    (broken / "exit_heads.npz").unlink()
    with pytest.raises(RouterError):
        Predictor.load(broken)


def test_cli_exits_bad_layers_is_one_line(tmp_path, tiny_onnx_dir):
    result = CliRunner().invoke(
        app, ["exits", "--model", str(tiny_onnx_dir), "--out", str(tmp_path / "o"), "--exits", "a,b"]
    )
    assert result.exit_code == 2
    assert "--exits" in result.output and "Traceback" not in result.output


def test_head_texts_keep_the_training_texts_and_sample_copies_to_the_cap(tiny_onnx_dir):
    from llm_router.distill.exits import head_texts

    data = load_folder_data(tiny_onnx_dir)
    train = list(data.train["text"])
    everything = head_texts(data, copies=4, seed=0)
    assert everything[: len(train)] == train and len(everything) > len(train)
    assert not set(everything) & (set(data.val["text"]) | set(data.test["text"]))
    capped = head_texts(data, copies=4, seed=0, max_texts=len(train) + 5)
    assert capped[: len(train)] == train and len(capped) == len(train) + 5
    assert set(capped) <= set(everything)
    assert head_texts(data, copies=4, seed=0, max_texts=1) == train  # never fewer than the training texts


def test_a_float_file_routes_in_padded_batches_as_one_text_at_a_time(
    tmp_path, tiny_classifier_dir, tiny_onnx_dir
):
    """An early exit cut from a float export (not the served INT8 file) is batch-independent: its segments run one
    padded batch per segment, with the answers of one text at a time. The fused float graph cannot be cut."""
    from llm_router.distill.exits import NotCuttable
    from llm_router.quantize.exporters import export_onnx

    with pytest.raises(NotCuttable, match="fused"):
        build_early_exit(ExitsConfig(model=str(tiny_onnx_dir / "model.onnx"), out=str(tmp_path / "fused")))
    folder = tmp_path / "onnx"
    shutil.copytree(tiny_onnx_dir, folder)
    export_onnx(tiny_classifier_dir, folder / "exported.onnx")
    out = tmp_path / "float-exits"
    build_early_exit(ExitsConfig(model=str(folder / "exported.onnx"), out=str(out), exits=[1], copies=0))
    assert json.loads((out / "router.json").read_text())["quantization"] == "float"
    predictor = Predictor.load(out, threads=1)
    assert not predictor.per_text
    texts = _test_texts(out)
    batch = predictor.predict(texts)
    alone = np.vstack([predictor.predict_one(t).route_probs for t in texts])
    np.testing.assert_allclose(batch.route_probs, alone, atol=1e-4)
