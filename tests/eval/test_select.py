"""The choice of the served artefact (eval/select.py): best validation F1 under the p99 SLO, and why."""

from pathlib import Path

import pytest

from llm_router.eval.select import choose_served

ROWS = [
    {"model": "teacher", "p99_ms": 40.0},
    {"model": "student-int8", "p99_ms": 4.0},
    {"model": "static", "p99_ms": 0.3},
    {"model": "cascade", "p99_ms": 4.8},
]


def test_best_validation_f1_within_the_slo_and_why():
    scores = {"teacher": 0.95, "student-int8": 0.80, "static": 0.75, "cascade": 0.92}
    choice = choose_served(Path("."), ROWS, 5.0, scores=scores)
    assert choice["artefact"] == "cascade"
    assert "0.920" in choice["reason"] and "teacher scores 0.950" in choice["reason"]
    assert [c["within_slo"] for c in choice["candidates"]] == [False, True, True, True]


def test_ties_go_to_the_faster_and_nothing_within_slo_serves_the_fastest():
    tie = choose_served(Path("."), ROWS, 5.0, scores={"student-int8": 0.8, "static": 0.8, "teacher": 0.7})
    assert tie["artefact"] == "static"
    none = choose_served(Path("."), ROWS, 0.1, scores={"teacher": 0.9, "static": 0.7})
    assert none["artefact"] == "static" and "no artefact" in none["reason"]


def test_a_p99_whose_interval_holds_the_slo_counts_as_within_it_and_the_reason_says_so():
    rows = [
        {"model": "student-int8", "p99_ms": 5.04, "p99_ci95_ms": [4.6, 5.9]},
        {"model": "teacher-int8", "p99_ms": 12.6, "p99_ci95_ms": [11.0, 14.0]},
        {"model": "tfidf", "p99_ms": 1.7, "p99_ci95_ms": [1.6, 1.9]},
    ]
    scores = {"student-int8": 0.86, "teacher-int8": 0.93, "tfidf": 0.77}
    choice = choose_served(Path("."), rows, 5.0, scores=scores)
    assert choice["artefact"] == "student-int8"
    assert "4.60-5.90 ms holds the SLO" in choice["reason"]
    assert [c["within_slo"] for c in choice["candidates"]] == [True, False, True]


def test_the_p99_interval_is_made_of_order_statistics_around_the_p99():
    import numpy as np

    from llm_router.eval.compare import quantile_interval

    times = list(np.arange(1, 301, dtype=float))  # 1..300 ms
    lo, hi = quantile_interval(times, 99)
    assert lo <= float(np.percentile(times, 99)) <= hi <= 300.0
    assert 290 <= lo < hi
    assert quantile_interval(times[:10], 99) is None


def test_an_artefact_slower_than_its_traffic_is_not_within_the_slo():
    rows = [
        {"model": "teacher-int8", "p99_ms": 12.0, "throughput_b32": 98.0},
        {"model": "cascade", "p99_ms": 22.0, "throughput_b32": 466.0},
    ]
    scores = {"teacher-int8": 0.93, "cascade": 0.90}
    choice = choose_served(Path("."), rows, 50.0, scores=scores, min_throughput=200.0)
    assert choice["artefact"] == "cascade"
    assert "98 texts/s on one inference thread are under the 200 needed" in choice["reason"]
    # the count names both conditions: the teacher-int8 meets the p99 but not the throughput
    assert "among the 1 artefact(s) with batch-1 p99 <= 50 ms and >= 200 texts/s" in choice["reason"]
    assert choose_served(Path("."), rows, 50.0, scores=scores)["artefact"] == "teacher-int8"


def test_capacity_is_the_better_of_batch_1_and_batch_32():
    """A cascade over long texts is slower per text at batch 32 (its teacher pads to the longest text) than one at
    a time, as a server at a modest rate routes them: its batch-1 rate counts."""
    from llm_router.eval.select import capacity

    cascade = {"model": "cascade", "p99_ms": 25.0, "throughput_b32": 191.0, "mean_ms": 4.59}
    assert capacity(cascade) == pytest.approx(1000 / 4.59)
    assert capacity({"throughput_b32": 300.0, "mean_ms": 10.0}) == 300.0
    assert capacity({"model": "x"}) is None
    rows = [{"model": "static", "p99_ms": 0.5, "throughput_b32": 7515.0, "mean_ms": 0.29}, cascade]
    choice = choose_served(
        Path("."), rows, 50.0, scores={"static": 0.35, "cascade": 0.40}, min_throughput=200.0
    )
    assert choice["artefact"] == "cascade"
    slow = dict(cascade, mean_ms=6.0)  # 167 texts/s at batch 1, 191 at batch 32: under the 200 needed
    choice = choose_served(
        Path("."), [rows[0], slow], 50.0, scores={"static": 0.35, "cascade": 0.40}, min_throughput=200.0
    )
    assert (
        choice["artefact"] == "static"
        and "191 texts/s on one inference thread are under the 200 needed" in choice["reason"]
    )


def _val(n_right_a: int, n_right_b: int, n: int = 200):
    """Gold routes of ``n`` validation texts and two predictions: model a right on its first ``n_right_a`` rows,
    model b on its last ``n_right_b`` rows (wrong answers: the next route)."""
    routes = ["a", "b", "c"]
    gold = [routes[i % 3] for i in range(n)]
    wrong = [routes[(i + 1) % 3] for i in range(n)]
    a = [g if i < n_right_a else w for i, (g, w) in enumerate(zip(gold, wrong, strict=True))]
    b = [g if i >= n - n_right_b else w for i, (g, w) in enumerate(zip(gold, wrong, strict=True))]
    return gold, a, b


BASELINE_ROWS = [
    {"model": "teacher-int8", "kind": "onnx:model_int8.onnx", "p99_ms": 9.0},
    {"model": "tfidf", "kind": "linear", "p99_ms": 1.0},
]


def _scores(gold, routes):
    from llm_router.eval.metrics import classification_report

    return {
        m: classification_report(gold, r, ["a", "b", "c"], n_boot=0)["macro_f1"] for m, r in routes.items()
    }


def test_a_lead_inside_the_noise_is_a_tie_and_the_tie_goes_to_the_closest_to_the_teacher():
    gold, teacher, tfidf = _val(120, 124)  # 60% vs 62% right on 200 texts: a 2-point lead, inside the noise
    routes = {"teacher-int8": teacher, "tfidf": tfidf}
    scores = _scores(gold, routes)
    assert scores["tfidf"] > scores["teacher-int8"]
    agreements = {"teacher-int8": 0.98, "tfidf": 0.70}
    choice = choose_served(
        Path("."), BASELINE_ROWS, 50.0, scores=scores, val_routes=routes, val_gold=gold, agreements=agreements
    )
    assert choice["artefact"] == "teacher-int8"
    assert (
        choice["reason"].startswith("validation macro F1")
        and "within the noise of the best (tfidf" in choice["reason"]
    )
    assert "2 artefacts tie" in choice["reason"] and "tfidf 70.0%, teacher-int8 98.0%" in choice["reason"]
    assert [c["baseline"] for c in choice["candidates"]] == [False, True]
    assert choice["candidates"][0]["val_f1_vs_best"]["ci95"][1] >= 0
    # the same tie, where the baseline agrees more with the teacher: the baseline
    flipped = {"teacher-int8": 0.60, "tfidf": 0.70}
    assert (
        choose_served(
            Path("."),
            BASELINE_ROWS,
            50.0,
            scores=scores,
            val_routes=routes,
            val_gold=gold,
            agreements=flipped,
        )["artefact"]
        == "tfidf"
    )


def test_a_real_lead_is_served_whatever_the_agreement():
    gold, teacher, tfidf = _val(100, 170)  # 50% vs 85% right: a lead no resample removes
    routes = {"teacher-int8": teacher, "tfidf": tfidf}
    scores = _scores(gold, routes)
    agreements = {"teacher-int8": 0.99, "tfidf": 0.50}
    choice = choose_served(
        Path("."), BASELINE_ROWS, 50.0, scores=scores, val_routes=routes, val_gold=gold, agreements=agreements
    )
    assert choice["artefact"] == "tfidf" and "tie" not in choice["reason"]
    assert choice["candidates"][0]["val_f1_vs_best"]["ci95"][1] < 0
    # without validation predictions there is no tie test: the best score is served, as before
    assert (
        choose_served(Path("."), BASELINE_ROWS, 50.0, scores={"teacher-int8": 0.60, "tfidf": 0.62})[
            "artefact"
        ]
        == "tfidf"
    )
