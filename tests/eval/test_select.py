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
