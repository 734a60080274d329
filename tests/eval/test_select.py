"""The choice of the served artefact (eval/select.py): best validation F1 under the p99 SLO, and why."""

from pathlib import Path

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
    assert "98 texts/s are under the 200 needed" in choice["reason"]
    assert choose_served(Path("."), rows, 50.0, scores=scores)["artefact"] == "teacher-int8"
