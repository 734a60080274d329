"""`router pipeline --fast` end to end on a tiny random teacher: every artefact and the report exist and agree;
re-running skips finished stages; a failing stage names itself and leaves earlier artefacts intact."""

import json
import os
import re

import pytest

from llm_router.errors import RouterError
from llm_router.pipeline import PipelineConfig, run_pipeline

pytestmark = [pytest.mark.slow, pytest.mark.ci]


@pytest.fixture(scope="module")
def tiny_run(tiny_classifier_dir, tmp_path_factory):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    info = json.loads((tiny_classifier_dir / "router.json").read_text("utf-8"))
    out = tmp_path_factory.mktemp("pipeline") / "run"
    cfg = PipelineConfig(
        data=info["data"]["path"],
        teacher_model=str(tiny_classifier_dir),
        out=str(out),
        fast=True,
        student="layers:1",
        bench_duration=2.0,
        bench_rps=50.0,
    )
    state = run_pipeline(cfg)
    return cfg, out, state


def read(path):
    return json.loads(path.read_text("utf-8"))


def test_every_stage_ran_and_every_artefact_exists(tiny_run):
    _cfg, out, state = tiny_run
    assert {name: s["status"] for name, s in state["stages"].items()} == {
        "analyze": "done",
        "teacher": "done",
        "baselines": "done",
        "student": "done",
        "static": "done",
        "quantize": "done",
        "exits": "done",
        "cascade": "done",
        "compare": "done",
        "bench": "done",
        "report": "done",
    }
    for name in (
        "teacher",
        "tfidf",
        "student",
        "static",
        "student-int8",
        "teacher-int8",
        "early-exit",
        "cascade",
    ):
        assert (out / name / "router.json").exists(), name
    kept = bool(read(out / "early-exit" / "exits.json")["exits"])
    assert ("early-exit" in [r["model"] for r in read(out / "compare.json")]) == kept
    baselines = read(out / "baselines.json")
    assert set(baselines["baselines"]) == {"tfidf", "frozen"} and baselines["verdict"]
    assert "tfidf" in [r["model"] for r in read(out / "compare.json")]
    for rel in (
        "analysis.json",
        "environment.json",
        "compare.json",
        "compare.png",
        "final.json",
        "bench/summary.json",
        "bench/before.json",
        "bench/after.json",
        "bench/inprocess.json",
        "REPORT.md",
        "latency_cdf.png",
    ):
        assert (out / rel).exists(), rel
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary folders left behind"


def test_report_numbers_match_the_stage_outputs(tiny_run):
    _cfg, out, _state = tiny_run
    report = (out / "REPORT.md").read_text("utf-8")
    compare = read(out / "compare.json")
    assert [r["model"] for r in compare][:4] == ["teacher", "teacher-int8", "student", "student-int8"]
    for row in compare:
        ev = read(out / "eval" / f"{row['model']}.json")
        assert ev["macro_f1"] == pytest.approx(row["macro_f1"], abs=1e-9), row["model"]
        assert f"{row['macro_f1']:.3f}" in report
        assert f"{row['p50_ms']:.2f}" in report
    after = read(out / "bench" / "after.json")
    cascade = next(r for r in compare if r["model"] == "cascade")
    assert sum(cascade["level_shares"].values()) == pytest.approx(1.0)
    assert "Cascade `cascade` answered the test texts at:" in report
    choice = read(out / "final.json")  # the served artefact: best on validation under the p99 SLO
    assert choice["artefact"] in [r["model"] for r in compare] and choice["reason"]
    assert f"Served artefact: `{choice['artefact']}`" in report
    final = read(out / "eval" / f"{choice['artefact']}.json")
    conclusion = re.search(r"p95 ([\d.]+) ms, p99 ([\d.]+) ms.*macro F1 ([\d.]+)", report)
    assert conclusion, report[:500]
    assert float(conclusion.group(1)) == pytest.approx(after["p95_ms"], abs=0.01)
    assert float(conclusion.group(2)) == pytest.approx(after["p99_ms"], abs=0.01)
    assert float(conclusion.group(3)) == pytest.approx(final["macro_f1"], abs=1e-3)
    assert after["target_rps"] == 50.0 and after["sent"] > 0


def test_rerun_skips_done_stages_and_force_redoes_from_a_stage(tiny_run):
    cfg, out, state = tiny_run
    teacher_mtime = (out / "teacher" / "router.json").stat().st_mtime
    again = run_pipeline(cfg)
    assert again["stages"]["teacher"]["hash"] == state["stages"]["teacher"]["hash"]
    assert (out / "teacher" / "router.json").stat().st_mtime == teacher_mtime
    before_report = (out / "REPORT.md").stat().st_mtime
    run_pipeline(cfg, force=("report",))
    assert (out / "REPORT.md").stat().st_mtime > before_report
    assert "| report |" not in (out / "REPORT.md").read_text()  # no row with the previous report's summary
    assert "| compare | done |" in (out / "REPORT.md").read_text()
    assert (out / "teacher" / "router.json").stat().st_mtime == teacher_mtime


def test_until_stops_after_a_stage_and_the_next_run_redoes_the_rest(tiny_run):
    cfg, out, _state = tiny_run
    after_mtime = (out / "bench" / "after.json").stat().st_mtime
    state = run_pipeline(cfg, force=("compare",), until="compare")
    assert state["stages"]["compare"]["status"] == "done"
    assert state["stages"]["bench"]["status"] == "stale"
    assert (out / "bench" / "after.json").stat().st_mtime == after_mtime  # not benchmarked yet
    state = run_pipeline(cfg)
    assert state["stages"]["bench"]["status"] == "done"
    assert (out / "bench" / "after.json").stat().st_mtime > after_mtime
    with pytest.raises(RouterError, match="--until: unknown stage"):
        run_pipeline(cfg, until="nope")


def test_a_bad_float_ffn_fails_before_any_stage_runs(tiny_run):
    cfg, out, _state = tiny_run
    from dataclasses import replace

    teacher_mtime = (out / "teacher" / "router.json").stat().st_mtime
    with pytest.raises(RouterError, match="--teacher-float-ffn 'some'"):
        run_pipeline(replace(cfg, teacher_float_ffn="some"), force=("all",))
    with pytest.raises(RouterError, match="--teacher-int8-scheme 'fast'"):
        run_pipeline(replace(cfg, teacher_int8_scheme="fast"), force=("all",))
    assert (out / "teacher" / "router.json").stat().st_mtime == teacher_mtime
    assert read(out / "pipeline.json")["stages"]["teacher"]["status"] == "done"


def test_failing_stage_names_itself_and_keeps_earlier_artefacts(tiny_run):
    """A stage that fails (a 9-layer student of a 2-layer teacher) names itself; a bad option fails before any stage."""
    cfg, out, _state = tiny_run
    from dataclasses import replace

    bad = replace(cfg, student="layers:9")
    with pytest.raises(RouterError, match="stage 'student' failed"):
        run_pipeline(bad, force=("student",))
    assert (out / "teacher" / "router.json").exists()
    assert read(out / "pipeline.json")["stages"]["student"]["status"] == "failed"
    with pytest.raises(RouterError, match="unknown stage"):
        run_pipeline(cfg, force=("nope",))
    with pytest.raises(RouterError, match="need at least one layer"):  # before any stage: nothing rewritten
        run_pipeline(replace(cfg, student="layers:0"), force=("student",))


def test_the_cascade_stage_counts_the_servers_inference_threads(tmp_path, monkeypatch):
    """The cost bound and the simulated queue count the threads `router serve` routes on (at most the CPUs): 5 ms
    per text at 100 requests/s on one, 7.5 ms on two (a second thread added half a thread's rate)."""
    import llm_router.eval.cascade as cascade_module
    from llm_router.pipeline import stage_cascade

    seen = []
    monkeypatch.setattr(
        cascade_module, "build_cascade", lambda config: seen.append(config) or {"thresholds": [0.5, None]}
    )
    monkeypatch.setattr(cascade_module, "cascade_summary", lambda report: "ok")
    for name in ("static", "teacher"):
        (tmp_path / name).mkdir()
    cfg = PipelineConfig(data="x.csv", out=str(tmp_path), bench_rps=100.0)
    for cpus, bound, threads in ((1, 5.0, 1), (2, 7.5, 2), (16, 7.5, 2)):
        monkeypatch.setattr(os, "cpu_count", lambda cpus=cpus: cpus)
        assert stage_cascade(cfg, tmp_path) == "ok"
        assert seen[-1].max_cost_ms == pytest.approx(bound) and seen[-1].inference_workers == threads
        assert seen[-1].rate == 100.0 and seen[-1].levels == [
            str(tmp_path / "static"),
            str(tmp_path / "teacher"),
        ]


def test_a_cascade_that_skips_every_cheap_level_is_not_a_candidate_of_its_own(tmp_path, monkeypatch):
    """All thresholds None: the cascade answers every text with its last level, so compare and the served choice
    see that level's own folder, not the same model behind a wrapper (and the stage says so)."""
    import json

    import llm_router.eval.cascade as cascade_module
    from llm_router.pipeline import _artefacts, stage_cascade

    for name in ("teacher", "teacher-int8", "static", "cascade"):
        (tmp_path / name).mkdir()
    cfg = PipelineConfig(data="x.csv", out=str(tmp_path), static_student=True)
    report = tmp_path / "cascade" / "cascade.json"
    report.write_text(json.dumps({"thresholds": [0.9, None]}))
    assert "cascade" in _artefacts(cfg, tmp_path)
    report.write_text(json.dumps({"thresholds": [None, None]}))
    assert "cascade" not in _artefacts(cfg, tmp_path) and "teacher-int8" in _artefacts(cfg, tmp_path)
    monkeypatch.setattr(cascade_module, "build_cascade", lambda config: {"thresholds": [None, None]})
    monkeypatch.setattr(cascade_module, "cascade_summary", lambda report: "static skipped")
    assert stage_cascade(cfg, tmp_path).endswith("the cascade is teacher-int8 itself, not compared or served as an "
                                                 "artefact of its own")  # fmt: skip


def test_an_early_exit_model_without_exits_is_not_a_candidate_of_its_own(tmp_path):
    """No exit kept: the early-exit folder is the INT8 teacher in segments, so compare sees teacher-int8 alone."""
    from llm_router.pipeline import _artefacts

    for name in ("teacher", "teacher-int8", "early-exit"):
        (tmp_path / name).mkdir()
    cfg = PipelineConfig(data="x.csv", out=str(tmp_path))
    report = tmp_path / "early-exit" / "exits.json"
    report.write_text(json.dumps({"exits": [2]}))
    assert "early-exit" in _artefacts(cfg, tmp_path)
    report.write_text(json.dumps({"exits": []}))
    assert "early-exit" not in _artefacts(cfg, tmp_path) and "teacher-int8" in _artefacts(cfg, tmp_path)
    cfg.early_exit = False
    report.write_text(json.dumps({"exits": [2]}))
    assert "early-exit" not in _artefacts(cfg, tmp_path)


def test_the_exits_stage_skips_a_teacher_file_it_cannot_cut(tmp_path, monkeypatch):
    """The gate refused INT8 and teacher-int8 serves the fused float graph: no early exit, the run goes on."""
    import llm_router.distill.exits as exits_module
    from llm_router.pipeline import stage_exits

    def refuse(config):
        raise exits_module.NotCuttable("no encoder layer outputs to cut at")

    monkeypatch.setattr(exits_module, "build_early_exit", refuse)
    (tmp_path / "teacher-int8").mkdir()
    (tmp_path / "early-exit").mkdir()  # a stale one from an earlier run goes
    cfg = PipelineConfig(data="x.csv", out=str(tmp_path))
    assert stage_exits(cfg, tmp_path).startswith("skipped: no encoder layer outputs")
    assert not (tmp_path / "early-exit").exists()
