"""The statistically powered accuracy gate (quantize/gate.py): agreement over many texts, the F1-change bootstrap
interval, refusing only a real loss - as functions, and through `router quantize` on the tiny models."""

from __future__ import annotations

import json

import pytest

from llm_router.errors import RouterError
from llm_router.quantize import GateRejected, QuantizeConfig, quantize_model
from llm_router.quantize.gate import (
    GateConfig,
    choose_scheme,
    collect_gate_texts,
    f1_change_interval,
    judge,
)

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


def test_collect_gate_texts_names_each_texts_source():
    pool = collect_gate_texts(["a", "b"], ["b", "c", "d"], ["e"], max_texts=100)
    assert pool.origins == ["val", "val", "train", "train", "transfer"]
    capped = collect_gate_texts(["a"], ["b", "c", "d"], ["e", "f"], max_texts=3, seed=1)
    assert capped.origins[0] == "val" and len(capped.origins) == len(capped.texts) == 3
    assert capped.origins.count("train") == capped.sources["train"]


def test_flips_the_training_texts_hide_are_a_real_loss_on_the_validation_texts():
    """The seed teacher's case: dynamic INT8 flips none of the 267 training texts and 6 of 39 validation texts;
    the pooled agreement (98%) would pass, the validation texts alone do not."""
    truths = _val()
    float_routes = list(truths) + ["Claude"] * 267
    quant_routes = list(float_routes)
    for i in range(6):
        quant_routes[i] = ROUTES[(ROUTES.index(quant_routes[i]) + 1) % 3]
    origins = ["val"] * 39 + ["train"] * 267
    lenient = GateConfig(tolerance=100.0)  # every flip here is an error on 39 texts: only agreement is judged
    verdict = judge(float_routes, quant_routes, {"val": 39, "train": 267}, truths, ROUTES, lenient, origins)
    assert verdict.agreement_by_source == {"val": pytest.approx(33 / 39, abs=1e-5), "train": 1.0}
    assert verdict.agreement == pytest.approx(300 / 306, abs=1e-5)  # pooled: above the 97% minimum
    # ... but on the validation texts alone even the interval's upper end is below it: a real loss
    assert verdict.decision == "rejected" and verdict.val_agreement_ci95[1] < 0.97
    assert "on the 39 validation texts alone it routes 6 differently (agreement 84.6%" in verdict.reason
    assert "(val 84.6%, train 100.0%)" in verdict.reason
    # two flips of 39 are not evidence of a loss below 97%
    two = list(float_routes)
    two[0], two[1] = quant_routes[0], quant_routes[1]
    kept = judge(float_routes, two, {"val": 39, "train": 267}, truths, ROUTES, lenient, origins)
    assert kept.decision == "accepted" and kept.val_agreement_ci95[1] > 0.97
    with pytest.raises(RouterError, match="origins"):
        judge(float_routes, quant_routes, {}, truths, ROUTES, lenient, origins[:-1])


def test_choose_scheme_keeps_dynamic_unless_blockwise_flips_significantly_fewer():
    float_routes = _val(39)

    def flipped(indices):
        return [ROUTES[(ROUTES.index(r) + 1) % 3] if i in indices else r for i, r in enumerate(float_routes)]

    # seed: dynamic flips 6 validation routes, blockwise none -> p = 1/64
    seed = choose_scheme(float_routes, flipped({0, 1, 2, 3, 4, 5}), list(float_routes))
    assert seed["chosen"] == "blockwise" and seed["p_value"] == pytest.approx(1 / 64, abs=1e-5)
    assert (seed["dynamic_flips"], seed["blockwise_flips"], seed["only_dynamic"]) == (6, 0, 6)
    # demo: 1 against 0 is no evidence
    demo = choose_scheme(float_routes, flipped({7}), list(float_routes))
    assert demo["chosen"] == "dynamic" and demo["p_value"] == 0.5 and "not significantly" in demo["reason"]
    # 10 against 4 on different texts: P(X >= 10 | 14) = 1471 / 16384
    mixed = choose_scheme(float_routes, flipped(set(range(10))), flipped(set(range(20, 24))))
    assert mixed["chosen"] == "dynamic" and mixed["p_value"] == pytest.approx(1471 / 16384, abs=1e-5)
    # 4 against 0 is not significant (p = 1/16), but 35 of 39 would fail the gate: blockwise
    four = flipped({0, 1, 2, 3})
    assert choose_scheme(float_routes, four, list(float_routes))["chosen"] == "dynamic"
    failing = choose_scheme(float_routes, four, list(float_routes), min_agreement=0.97)
    assert failing["chosen"] == "blockwise" and "would fail the gate" in failing["reason"]
    assert choose_scheme(float_routes, four, four, min_agreement=0.97)["chosen"] == "dynamic"  # no better
    # the same flips in both: no discordant texts, keep the faster one
    same = choose_scheme(float_routes, flipped({1, 2}), flipped({1, 2}))
    assert same["chosen"] == "dynamic" and same["p_value"] == 1.0


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
