"""ECE, Brier and temperature fitting on hand-computed and synthetic cases."""

import numpy as np
import pytest

from llm_router.errors import RouterError
from llm_router.eval.calibration import (
    brier_score,
    calibration_summary,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    route_probs,
    softmax_t,
)

PROBS = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
Y = np.array([0, 1, 0, 0])


def test_ece_by_hand():
    # bin (13/15, 14/15]: confidence 0.9, accuracy 0.5; bin (8/15, 9/15]: confidence 0.6, accuracy 1.0
    bins = reliability_bins(PROBS, Y)
    assert bins["count"][13] == 2 and bins["count"][8] == 2 and sum(bins["count"]) == 4
    assert bins["accuracy"][13] == 0.5 and bins["confidence"][8] == pytest.approx(0.6)
    assert expected_calibration_error(PROBS, Y) == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)


def test_brier_by_hand():
    # rows: 0.01+0.01, 0.81+0.81, 0.16+0.16, 0.16+0.16
    assert brier_score(PROBS, Y) == pytest.approx((0.02 + 1.62 + 0.32 + 0.32) / 4)
    assert brier_score(np.eye(3), np.arange(3)) == 0.0


def test_perfectly_confident_and_right_is_calibrated():
    summary = calibration_summary(np.eye(3)[[0, 1, 2, 1]], np.array([0, 1, 2, 1]))
    assert summary["ece"] == 0.0 and summary["accuracy"] == 1.0 and summary["n"] == 4


def test_fit_temperature_recovers_the_scale_of_overconfident_logits():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(20000, 3)) * 1.5
    p = softmax_t(z)
    y = (rng.random(len(p))[:, None] > p.cumsum(axis=1)).sum(axis=1)  # labels drawn from p: calibrated
    t = fit_temperature(3.0 * z, y)  # three times too sharp
    assert t == pytest.approx(3.0, rel=0.1)
    before = expected_calibration_error(softmax_t(3.0 * z), y)
    after = expected_calibration_error(softmax_t(3.0 * z, t), y)
    assert after < before / 2


def test_route_matrix_sums_label_probabilities():
    logits = np.log(np.array([[0.5, 0.3, 0.2]]))
    m = np.array([[1, 0], [1, 0], [0, 1]], dtype=float)
    assert route_probs(logits, 1.0, m) == pytest.approx(np.array([[0.8, 0.2]]))


def test_bad_shapes_are_router_errors():
    with pytest.raises(RouterError):
        brier_score(PROBS, Y[:2])
    with pytest.raises(RouterError):
        fit_temperature(np.zeros((0, 3)), np.zeros(0))
    with pytest.raises(RouterError):
        expected_calibration_error(PROBS, np.array([0, 1, 2, 0]))


def test_noise_floor_is_small_for_many_rows_and_larger_for_few():
    rng = np.random.default_rng(1)
    p = softmax_t(rng.normal(size=(4000, 3)))
    from llm_router.eval.calibration import ece_noise_floor

    many, few = ece_noise_floor(p, n_sim=50), ece_noise_floor(p[:80], n_sim=50)
    assert many < 0.03 < few


def test_temperature_bias_undoes_a_prior_shift():
    from llm_router.eval.calibration import fit_temperature_bias

    rng = np.random.default_rng(2)
    z = rng.normal(size=(20000, 3)) * 1.5
    y = (rng.random(len(z))[:, None] > softmax_t(z).cumsum(axis=1)).sum(axis=1)
    shifted = 2.0 * z + np.array([0.0, 1.0, -1.0])  # too sharp, and leaning towards label 1
    t, b = fit_temperature_bias(shifted, y)
    assert t == pytest.approx(2.0, rel=0.1)
    assert b == pytest.approx([0.0, -0.5, 0.5], abs=0.1)  # (2z + s) / 2 + b = z  <=>  b = -s / 2
    t_only = fit_temperature(shifted, y)
    with_bias = expected_calibration_error(route_probs(shifted, t, None, b), y)
    assert with_bias < expected_calibration_error(softmax_t(shifted, t_only), y)
