"""The cost-quality metrics on tiny cases computed by hand (see the numbers in each test)."""

import numpy as np
import pytest

from llm_router.errors import RouterError
from llm_router.eval.costquality import (
    aiq,
    curve_metrics,
    evaluate_curve,
    hull_value,
    min_cost_for,
    nondecreasing_hull,
    oracle_choice,
    points,
)

# 4 queries, route 0 = cheap (cost 1, right on half the queries), route 1 = strong (cost 3, always right)
SCORES = np.array([[1, 1], [0, 1], [1, 1], [0, 1]], dtype=float)
COSTS = np.array([[1, 3]] * 4, dtype=float)
ORACLE = [0, 1, 0, 1]


def test_points_single_routes_and_oracle():
    cost, quality = points([[0, 0, 0, 0], [1, 1, 1, 1]], SCORES, COSTS)
    assert cost.tolist() == [1.0, 3.0] and quality.tolist() == [0.5, 1.0]
    assert oracle_choice(SCORES, COSTS).tolist() == ORACLE  # ties go to the cheaper route
    cost, quality = points(ORACLE, SCORES, COSTS)
    assert (cost[0], quality[0]) == (2.0, 1.0)


def test_hull_drops_dominated_and_inner_points_and_is_flat_then_zero():
    # (2, 0.5) is dominated by (1, 0.5); (2, 0.6) lies under the segment (1, 0.5)-(3, 1.0); (4, 0.9) costs more
    hx, hy = nondecreasing_hull([1, 2, 2, 3, 4], [0.5, 0.5, 0.6, 1.0, 0.9])
    assert hx.tolist() == [1.0, 3.0] and hy.tolist() == [0.5, 1.0]
    assert hull_value(hx, hy, [0.5, 2.0, 5.0]).tolist() == [0.0, 0.75, 1.0]
    assert min_cost_for(hx, hy, 0.75) == pytest.approx(2.0)
    assert min_cost_for(hx, hy, 1.01) is None


def test_aiq_is_mean_quality_over_the_single_route_cost_range():
    assert aiq([1, 3], [0.5, 1.0], 1, 3) == pytest.approx(0.75)  # the zero router: a straight line
    # oracle + both single routes: 0.75 on [1, 2] then 1.0 on [2, 3] -> (0.75 + 1) / 2
    assert aiq([2, 1, 3], [1, 0.5, 1], 1, 3) == pytest.approx(0.875)
    # one point right of c_min: f = 0 on [1, 2), 0.8 on [2, 3]
    assert aiq([2], [0.8], 1, 3) == pytest.approx(0.4)


def test_curve_metrics_by_hand():
    m = curve_metrics([2, 1, 3], [1, 0.5, 1], [1, 3], [0.5, 1.0])
    assert m["aiq"] == pytest.approx(0.875)
    assert m["aiq_zero_router"] == pytest.approx(0.75)
    assert m["aiq_gain"] == pytest.approx(0.125)
    assert m["apgr"] == pytest.approx((0.875 - 0.5) / 0.5)
    assert m["cpt50_cost"] == pytest.approx(1.5) and m["cpt50_share"] == pytest.approx(0.25)
    assert m["cpt80_cost"] == pytest.approx(1.8) and m["cpt80_share"] == pytest.approx(0.4)
    assert m["target_quality"] == pytest.approx(0.95)
    assert m["cost_at_target_hull"] == pytest.approx(1.9)
    assert m["saving_at_target_hull"] == pytest.approx(3 / 1.9)
    assert m["cost_at_target_point"] == 2.0 and m["saving_at_target_point"] == pytest.approx(1.5)


def test_evaluate_curve_reports_split_oracle_and_intervals():
    choices = [ORACLE, [0, 0, 0, 0], [1, 1, 1, 1]]
    res = evaluate_curve(choices, SCORES, COSTS, ["cheap", "strong"], knobs=[1.0, 9.0, 0.0], n_boot=200)
    assert res["weak_route"] == "cheap" and res["strong_route"] == "strong"
    assert res["oracle"] == {"cost": 2.0, "quality": 1.0}
    assert res["single_routes"]["cheap"] == {"cost": 1.0, "quality": 0.5}
    assert res["curve"][0]["split"] == {"cheap": 0.5, "strong": 0.5}
    assert res["operating_point_at_target"]["knob"] == 1.0
    ci = res["ci95"]["aiq_gain"]
    assert ci["lo"] <= res["aiq_gain"] <= ci["hi"]
    # the oracle router never loses to random mixing, whatever the resample
    assert ci["lo"] >= 0


def test_bad_inputs_are_router_errors():
    with pytest.raises(RouterError):
        evaluate_curve([[0, 0]], SCORES, COSTS, ["a", "b"])
    with pytest.raises(RouterError):
        evaluate_curve([[0, 0, 0, 2]], SCORES, COSTS, ["a", "b"])
    with pytest.raises(RouterError):
        evaluate_curve([[0]], np.array([[np.nan, 1]]), np.array([[1, 1]]), ["a", "b"])
    with pytest.raises(RouterError, match="cost range"):
        curve_metrics([1], [1], [1, 1], [0.5, 1.0])
