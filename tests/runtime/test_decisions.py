"""Calibration and routing policy in a model folder: the files, the Predictor applying them, backwards
compatibility (a folder without them predicts as before) and bad input."""

import json
import shutil

import numpy as np
import pytest

from llm_router.errors import RouterError
from llm_router.runtime import Predictor
from llm_router.runtime.calibration import Calibration, read_calibration, write_calibration
from llm_router.runtime.policy import (
    COST,
    FALLBACK,
    Policy,
    fit_outcome_model,
    read_policy,
    write_policy,
)

ROUTES = ["Claude", "gemini-mini", "gpt-o1"]
TEXTS = ["write a poem about the sea", "hi teacher", "solve 3x + 4 = 10 for x", "thanks, friend!"]


@pytest.fixture
def model_copy(tiny_classifier_dir, tmp_path):
    return shutil.copytree(tiny_classifier_dir, tmp_path / "model")


def test_threshold_policy_falls_back_below_the_minimum():
    probs = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25], [0.1, 0.3, 0.6]])
    policy = Policy(
        rule="threshold", min_confidence={"gpt-o1": 0.65}, default_min_confidence=0.5, fallback="gpt-o1"
    )
    idx, codes = policy.compile(ROUTES).decide(probs)
    # row 0: Claude 0.7 >= 0.5; row 1: Claude 0.4 < 0.5 -> fallback; row 2: gpt-o1 0.6 < 0.65 -> fallback
    assert idx.tolist() == [0, 2, 2]
    assert codes.tolist()[1:] == [FALLBACK, FALLBACK]


def test_cost_policy_trades_expected_quality_for_cost():
    probs = np.array([[0.6, 0.3, 0.1]])
    # label Claude: gpt-o1 also right 90% of the time; gemini-mini right 20%
    quality = {"Claude": {"Claude": 1.0, "gemini-mini": 0.2, "gpt-o1": 0.9}}
    policy = Policy(rule="cost", costs={"Claude": 1.0, "gemini-mini": 0.5, "gpt-o1": 5.0}, quality=quality)
    compiled = policy.compile(ROUTES)
    # expected quality: Claude 0.6, gemini-mini 0.12 + 0.3 = 0.42, gpt-o1 0.54 + 0.1 = 0.64
    idx, codes = compiled.decide(probs, lam=0.0)
    assert idx.tolist() == [2] and codes.tolist() == [COST]
    assert compiled.decide(probs, lam=0.02)[0].tolist() == [0]  # 0.58 > 0.54, 0.41
    assert compiled.decide(probs, lam=1.0)[0].tolist() == [1]  # cheapest wins


def test_fit_outcome_model_means_per_label():
    scores = np.array([[1, 0, 1], [1, 1, 1], [0, 0, 1]], dtype=float)
    costs = np.array([[2, 1, 3], [4, 1, 5], [6, 1, 7]], dtype=float)
    quality, mean_costs = fit_outcome_model(scores, costs, ["Claude", "Claude", "gpt-o1"], ROUTES)
    assert quality["Claude"] == {"Claude": 1.0, "gemini-mini": 0.5, "gpt-o1": 1.0}
    assert quality["gemini-mini"] == {"Claude": 0.0, "gemini-mini": 1.0, "gpt-o1": 0.0}  # no rows: identity
    assert mean_costs == {"Claude": 4.0, "gemini-mini": 1.0, "gpt-o1": 5.0}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rule": "vote"},
        {"rule": "threshold", "default_min_confidence": 0.5},  # no fallback
        {"rule": "threshold", "fallback": "Claude", "min_confidence": {"Claude": 1.5}},
        {"rule": "cost"},  # no costs
        {"rule": "cost", "costs": {"Claude": 1}, "lam": -1},
    ],
)
def test_bad_policies_are_router_errors(kwargs):
    with pytest.raises(RouterError):
        Policy(**kwargs)


def test_policy_naming_unknown_routes_is_refused(model_copy):
    with pytest.raises(RouterError, match="unknown route"):
        write_policy(model_copy, Policy(rule="threshold", fallback="llama"))
    with pytest.raises(RouterError, match="miss route"):
        write_policy(model_copy, Policy(rule="cost", costs={"Claude": 1.0}))
    assert not (model_copy / "policy.json").exists()


def test_folder_without_decision_files_predicts_as_before(tiny_classifier_dir):
    predictor = Predictor.load(tiny_classifier_dir, threads=1)
    assert predictor.temperature == 1.0 and predictor.policy is None
    pred = predictor.predict(TEXTS)
    assert pred.rules is None and pred.reasons is None
    assert pred.routes == [ROUTES[i] for i in pred.route_probs.argmax(axis=1)]


def test_predictor_applies_the_stored_temperature(model_copy):
    raw = Predictor.load(model_copy, threads=1)
    logits = raw.predict_logits(TEXTS)
    write_calibration(model_copy, Calibration(temperature=2.0, fitted_on="test", n=4))
    assert json.loads((model_copy / "router.json").read_text())["calibration"] == "calibration.json"
    assert read_calibration(model_copy).temperature == 2.0
    calibrated = Predictor.load(model_copy, threads=1)
    probs = calibrated.predict(TEXTS).route_probs
    z = logits / 2.0
    expected = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(probs, expected / expected.sum(1, keepdims=True), atol=1e-5)
    assert calibrated.predict(TEXTS).routes == raw.predict(TEXTS).routes  # temperature keeps the order
    write_calibration(model_copy, None)
    assert "calibration" not in json.loads((model_copy / "router.json").read_text())
    assert Predictor.load(model_copy, threads=1).temperature == 1.0


def test_predictor_applies_the_stored_policy(model_copy):
    write_policy(model_copy, Policy(rule="threshold", default_min_confidence=1.0, fallback="gpt-o1"))
    assert read_policy(model_copy).fallback == "gpt-o1"
    pred = Predictor.load(model_copy, threads=1).predict(TEXTS)
    assert pred.routes == ["gpt-o1"] * len(TEXTS)  # nothing reaches confidence 1.0
    assert set(pred.rules) == {"threshold"} and "fallback" in pred.reasons[0]
    one = Predictor.load(model_copy, threads=1).predict_one(TEXTS[0])
    assert one.routes == ["gpt-o1"] and one.rules == ["threshold"]


def test_missing_or_broken_files_are_router_errors(model_copy):
    raw = json.loads((model_copy / "router.json").read_text())
    (model_copy / "router.json").write_text(json.dumps({**raw, "policy": "policy.json"}))
    with pytest.raises(RouterError, match="missing"):
        Predictor.load(model_copy)
    (model_copy / "policy.json").write_text(json.dumps({"rule": "threshold"}))
    with pytest.raises(RouterError, match="fallback"):
        Predictor.load(model_copy)
    (model_copy / "router.json").write_text(json.dumps({**raw, "calibration": "calibration.json"}))
    (model_copy / "calibration.json").write_text(json.dumps({"temperature": -1}))
    with pytest.raises(RouterError, match="positive"):
        Predictor.load(model_copy)


def test_int8_onnx_folder_is_calibrated_like_any_other(tiny_onnx_dir, tmp_path):
    from llm_router.eval.calibrate import calibrate_model

    model = shutil.copytree(tiny_onnx_dir, tmp_path / "onnx")
    cal = calibrate_model(model, threads=1)
    assert cal.n == 30 and cal.after["nll"] <= cal.before["nll"] + 1e-9
    predictor = Predictor.load(model, threads=1)
    assert predictor.kind == "onnx" and predictor.temperature == cal.temperature
    logits = predictor.predict_logits(TEXTS)
    z = logits / cal.temperature
    expected = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(
        predictor.predict(TEXTS).route_probs, expected / expected.sum(1, keepdims=True), atol=1e-5
    )


def test_predictor_applies_temperature_and_bias(model_copy):
    logits = Predictor.load(model_copy, threads=1).predict_logits(TEXTS)
    bias = [0.0, 2.0, -1.0]
    write_calibration(model_copy, Calibration(temperature=1.5, method="temperature+bias", bias=bias))
    probs = Predictor.load(model_copy, threads=1).predict(TEXTS).route_probs
    z = logits / 1.5 + np.array(bias)
    expected = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(probs, expected / expected.sum(1, keepdims=True), atol=1e-5)
    write_calibration(model_copy, Calibration(temperature=1.0, method="temperature+bias", bias=[0.0, 1.0]))
    with pytest.raises(RouterError, match="bias"):
        Predictor.load(model_copy)
