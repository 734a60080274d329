"""The statistically powered accuracy gate (quantize/gate.py): agreement over many texts, the F1-change bootstrap
interval, refusing only a real loss - as functions, and through `router quantize` on the tiny models."""

from __future__ import annotations

import json

import pytest

from llm_router.errors import RouterError
from llm_router.quantize import GateRejected, QuantizeConfig, quantize_model
from llm_router.quantize.gate import GateConfig, collect_gate_texts, f1_change_interval, judge

ROUTES = ["Claude", "gemini-mini", "gpt-o1"]


def _val(n: int = 39) -> list[str]:
    return [ROUTES[i % 3] for i in range(n)]


def test_one_flip_on_39_texts_is_not_a_real_loss():
    """The issue's case: on 39 validation texts one changed prediction is 2.5 points; with 0.99 agreement on 800
    texts and an interval that reaches above -1, INT8 is accepted."""
    truths = _val()
    float_routes = list(truths) + ["Claude"] * 761
    quant_routes = list(float_routes)
    quant_routes[0] = "gpt-o1"  # one validation text now wrong
    for i in range(45, 50):  # and a few of the other texts routed differently
        quant_routes[i] = "gpt-o1"
    verdict = judge(float_routes, quant_routes, {"val": 39, "train": 761}, truths, ROUTES, GateConfig())
    assert verdict.f1_change < -1.0  # the old gate (point drop > 1 point) would have refused it
    assert verdict.f1_change_ci[0] < -1.0 < verdict.f1_change_ci[1]
    assert verdict.agreement == pytest.approx(794 / 800) and verdict.n_agreement_texts == 800
    assert verdict.decision == "accepted"


def test_low_agreement_on_many_texts_is_refused():
    float_routes = ["Claude"] * 1000
    quant_routes = ["Claude"] * 950 + ["gpt-o1"] * 50
    verdict = judge(float_routes, quant_routes, {"val": 0, "train": 1000}, [], ROUTES, GateConfig())
    assert verdict.decision == "rejected" and "agreement 95.0% < 97%" in verdict.reason
    assert verdict.agreement_ci95[0] < 0.95 < verdict.agreement_ci95[1]


def test_a_clear_f1_loss_is_refused_even_with_high_agreement():
    truths = _val(300)
    quant = ["Claude"] * 300  # everything routed to one class on the validation split
    verdict = judge(
        list(truths),
        quant,
        {"val": 300},
        truths,
        ROUTES,
        GateConfig(min_agreement=0.0),
    )
    assert verdict.decision == "rejected" and "entirely below -1" in verdict.reason
    assert verdict.f1_change_ci[1] < -1.0


def test_f1_change_interval_is_paired():
    truths = _val(60)
    change, (lo, hi) = f1_change_interval(truths, truths, truths, ROUTES, n_boot=200, confidence=0.95)
    assert change == 0.0 and lo == hi == 0.0  # the same predictions: no change on any resample


def test_collect_gate_texts_keeps_val_dedups_and_caps():
    pool = collect_gate_texts(["a", "b"], ["b", "c", "d", "e"], ["e", "f"], max_texts=4, seed=0)
    assert pool.texts[:2] == ["a", "b"] and len(pool.texts) == 4 and len(set(pool.texts)) == 4
    assert pool.sources["val"] == 2 and pool.sources["train"] + pool.sources["transfer"] == 2
    full = collect_gate_texts(["a"], ["b", "a"], ["c"], max_texts=100)
    assert full.texts == ["a", "b", "c"] and full.sources == {"val": 1, "train": 1, "transfer": 1}


def test_bad_gate_options():
    with pytest.raises(RouterError, match="--min-agreement"):
        QuantizeConfig(model="m", out="o", int8=True, min_agreement=1.5)


def test_quantize_records_the_gate_on_train_and_val_texts(tmp_path, tiny_classifier_dir):
    texts = tmp_path / "transfer.txt"
    texts.write_text("\n".join(f"write a limerick about a {w} cat" for w in ("red", "blue", "tiny", "old")))
    out = tmp_path / "out"
    result = quantize_model(
        QuantizeConfig(
            model=str(tiny_classifier_dir), out=str(out), int8=True, gate_texts=str(texts), threads=1
        )
    )
    gate = json.loads((out / "quantize.json").read_text())["gate"]
    assert result.decision == "accepted" and gate["decision"] == "accepted"
    assert gate["sources"]["val"] == result.n_val and gate["sources"]["train"] > result.n_val
    assert gate["sources"]["transfer"] == 4
    assert gate["n_agreement_texts"] == sum(gate["sources"].values()) > 2 * result.n_val
    assert gate["agreement"] >= 0.97 and len(gate["f1_change_ci"]) == 2


def test_outlier_model_is_refused_by_agreement(tmp_path, outlier_model_dir):
    """The activation-outlier model (conftest.py): refused with exit code 3, the reason names agreement."""
    with pytest.raises(GateRejected, match="agreement") as caught:
        quantize_model(
            QuantizeConfig(model=str(outlier_model_dir), out=str(tmp_path / "out"), int8=True, threads=1)
        )
    assert caught.value.exit_code == 3
    gate = json.loads((tmp_path / "out" / "quantize.json").read_text())["gate"]
    assert gate["decision"] == "rejected" and gate["agreement"] < 0.97
