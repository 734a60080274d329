"""The confidence cascade (`kind: cascade`): the routing rule, threshold choice, `router cascade`, and the cascade
folder loaded by `Predictor.load` / `router compare` / `router eval` like any other model - with tiny models."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from llm_router.cli import app
from llm_router.errors import RouterError
from llm_router.eval.cascade import CascadeConfig, build_cascade, choose_thresholds
from llm_router.eval.metrics import wilson_interval
from llm_router.runtime import Predictor
from llm_router.runtime.cascade import CascadePredictor, cascade_route


@pytest.fixture(scope="module")
def levels_root(tmp_path_factory, tiny_classifier_dir, tiny_onnx_dir):
    """One run folder: ``static`` (model2vec, random vectors + a fitted head: cheap, often unsure),
    ``student-int8`` (the tiny INT8 ONNX model) and ``teacher`` (the tiny PyTorch classifier)."""
    from model2vec import StaticModel
    from sklearn.linear_model import LogisticRegression
    from tokenizers import Tokenizer

    from llm_router.persistence import load_folder_data

    root = tmp_path_factory.mktemp("cascade-run")
    shutil.copytree(tiny_classifier_dir, root / "teacher")
    shutil.copytree(tiny_onnx_dir, root / "student-int8")
    tokenizer = Tokenizer.from_file(str(tiny_classifier_dir / "tokenizer.json"))
    tokenizer.no_padding()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(tokenizer.get_vocab_size(), 16)).astype(np.float32)
    static = root / "static"
    model = StaticModel(vectors=vectors, tokenizer=tokenizer, normalize=True)
    model.save_pretrained(str(static))
    train = load_folder_data(tiny_classifier_dir).train
    head = LogisticRegression(C=0.5, max_iter=500).fit(model.encode(list(train["text"])), train["route"])
    routes = [str(c) for c in head.classes_]
    np.savez(
        static / "head.npz", coef=head.coef_.astype(np.float32), intercept=head.intercept_.astype(np.float32)
    )
    router = json.loads((tiny_classifier_dir / "router.json").read_text())
    router.update(kind="static", labels=routes, routes=routes, max_length=48)
    (static / "router.json").write_text(json.dumps(router))
    shutil.copyfile(tiny_classifier_dir / "split.json", static / "split.json")
    return root


def _levels(root):
    return [str(root / "static"), str(root / "student-int8"), str(root / "teacher")]


def _quick_build(out, levels_root, **options):
    """``build_cascade`` on the three tiny levels, with few timed calls and no augmented copies unless given."""
    options = {"target_agreement": 0.95, "latency_calls": 2, "probe_copies": 0} | options
    return build_cascade(CascadeConfig(levels=_levels(levels_root), out=str(out), **options))


@pytest.fixture(scope="module")
def cascade_dir(levels_root):
    out = levels_root / "cascade"
    build_cascade(
        CascadeConfig(levels=_levels(levels_root), out=str(out), target_agreement=0.95, latency_calls=5)
    )
    return out


def test_cascade_route_rule():
    tops = [np.array([0.99, 0.5, 0.7]), np.array([0.9, 0.95, 0.6]), np.array([0.8, 0.8, 0.8])]
    assert cascade_route(tops, [0.98, 0.9, None]).tolist() == [0, 1, 2]
    assert cascade_route(tops, [None, 0.9, None]).tolist() == [1, 1, 2]  # level 0 skipped
    assert cascade_route(tops, [0.0, 0.9, None]).tolist() == [0, 0, 0]


def test_choose_thresholds_is_cheapest_reaching_the_target():
    top0 = np.array([0.99, 0.98, 0.97, 0.6, 0.55, 0.5])
    agree0 = np.array([True, True, True, False, True, False])
    last = np.ones(6, dtype=bool)
    full = choose_thresholds([top0, np.ones(6)], [agree0, last], [0.1, 10.0], target=1.0)
    assert full["thresholds"] == [0.97, None] and full["agreement"] == 1.0
    assert full["shares"] == pytest.approx([0.5, 0.5])
    # a lower target lets the cheap level answer more (here everything at 4/6 agreement)
    loose = choose_thresholds([top0, np.ones(6)], [agree0, last], [0.1, 10.0], target=0.6)
    assert loose["thresholds"][0] == 0.5 and loose["agreement"] == pytest.approx(4 / 6)
    # a cheap level that is never right is skipped
    never = choose_thresholds([top0, np.ones(6)], [np.zeros(6, bool), last], [0.1, 10.0], target=0.99)
    assert never["thresholds"] == [None, None] and never["expected_cost"] == pytest.approx(10.0)


def test_a_cost_bound_trades_agreement_for_throughput():
    top0 = np.array([0.99, 0.98, 0.97, 0.6, 0.55, 0.5])
    agree0 = np.array([True, True, True, False, True, False])
    last = np.ones(6, dtype=bool)
    args = ([top0, np.ones(6)], [agree0, last], [0.1, 10.0])
    # full agreement costs 0.1 + 10 / 2 = 5.1 per text; at most 4 per text allowed: the best agreement within it
    bounded = choose_thresholds(*args, target=1.0, max_cost=4.0)
    assert bounded["expected_cost"] <= 4.0 and not bounded["reached_target"] and bounded["within_cost"]
    # within 4.0 at most one text of six may reach the last level: the cheap level answers 5 (4 of them agree)
    assert bounded["thresholds"][0] == 0.55 and bounded["agreement"] == pytest.approx(5 / 6)
    # a bound the target fits in changes nothing
    assert choose_thresholds(*args, target=1.0, max_cost=6.0)["thresholds"] == [0.97, None]
    # a bound nothing fits in: the cheapest combination, flagged
    cheapest = choose_thresholds(*args, target=1.0, max_cost=0.01)
    assert not cheapest["within_cost"] and cheapest["expected_cost"] == pytest.approx(0.1)


def test_out_of_reach_the_most_agreeing_within_the_bound_wins():
    """When the target cannot be reached within the cost, the highest agreement within it wins (the cheapest of
    those), not a cheaper choice a text or two short of it: those texts are real ones on unseen data."""
    n = 400
    top0 = np.linspace(1.0, 0.4, n)  # the cheap level's confidence, highest first
    agree0 = np.ones(n, dtype=bool)
    agree0[[300, 320, 340, 360, 380]] = False  # wrong only on unsure texts
    agree0[::50] = False  # and on 8 confident ones
    last = np.ones(n, dtype=bool)
    last[[10, 110, 210, 310]] = (
        False  # the last level is an INT8 copy: it disagrees with the reference on 4 texts
    )
    args = ([top0, np.ones(n)], [agree0, last], [0.1, 10.0])
    options = [  # (agreement, cost) of every threshold within the cost
        (np.mean(np.where(top0 >= t, agree0, last)), 0.1 + 10 * np.mean(top0 < t)) for t in np.unique(top0)
    ]
    best = max(a for a, c in options if c <= 6.0)
    best_cost = min(c for a, c in options if c <= 6.0 and a == best)
    chosen = choose_thresholds(*args, target=0.999, max_cost=6.0, grid=n)
    assert not chosen["reached_target"] and chosen["within_cost"]
    assert chosen["agreement"] == pytest.approx(best)  # the most agreeing ...
    assert chosen["expected_cost"] == pytest.approx(best_cost)  # ... and the cheapest of those
    # with the target within reach the cheapest reaching it wins as before
    assert choose_thresholds(*args, target=0.9, max_cost=6.0, grid=n)["agreement"] >= 0.9


class _Recorder:
    """A level that records the texts it was asked to predict alone."""

    def __init__(self):
        self.seen = []

    def predict_one(self, text):
        self.seen.append(text)


def test_measure_cascade_routes_each_text_through_its_levels():
    from llm_router.eval.cascade import measure_cascade

    levels = [_Recorder(), _Recorder(), _Recorder()]
    texts = ["a", "b", "c", "d"]
    answered = np.array([0, 2, 2, 0])  # level 1 skipped (threshold None): a and d stop at level 0
    per_text, in_cascade = measure_cascade(levels, [0.9, None, None], answered, texts)
    warm = texts[:3]
    assert levels[0].seen == warm + texts  # every text starts at the first level
    assert levels[1].seen == warm  # the skipped level only in the warm-up
    assert levels[2].seen == warm + ["b", "c"]
    assert per_text.shape == (4,) and (per_text > 0).all() and in_cascade[1] is None
    assert in_cascade[0] > 0 and in_cascade[2] > 0


def test_simulate_queue():
    from llm_router.eval.cascade import simulate_queue

    idle = simulate_queue(np.full(10, 2.0), rate=1.0)  # one request per second, 2 ms each: no queue
    assert idle["p50_ms"] == pytest.approx(2.0) and idle["p99_ms"] == pytest.approx(2.0)
    assert idle["utilisation"] == pytest.approx(0.002) and idle["servers"] == 1
    busy = simulate_queue(np.full(10, 5.0), rate=100.0)  # half the time busy: requests wait
    assert busy["utilisation"] == pytest.approx(0.5) and busy["p99_ms"] > 5.0 * 3
    heavy = simulate_queue(np.array([1.0] * 9 + [41.0]), rate=100.0)  # the same mean, a long tail
    assert heavy["utilisation"] == pytest.approx(0.5) and heavy["p99_ms"] > busy["p99_ms"]
    assert simulate_queue(np.full(10, 5.0), rate=100.0) == busy  # seeded
    # two threads: the same arrivals wait far less; each is a quarter busy
    two = simulate_queue(np.full(10, 5.0), rate=100.0, servers=2)
    assert two["utilisation"] == pytest.approx(0.25) and 5.0 <= two["p99_ms"] < busy["p99_ms"] / 2
    # one thread by the old recursion (Lindley): the same numbers
    rng = np.random.default_rng(0)
    gaps = rng.exponential(10.0, 2000)
    service = rng.choice(np.full(10, 5.0), 2000)
    wait, response = 0.0, [service[0]]
    for k in range(1, 2000):
        wait = max(0.0, wait + service[k - 1] - gaps[k])
        response.append(wait + service[k])
    lindley = simulate_queue(np.full(10, 5.0), rate=100.0, n=2000)
    assert lindley["p99_ms"] == pytest.approx(float(np.percentile(response, 99)))


def test_cascade_measured_above_the_bound_is_chosen_again(tmp_path, levels_root, monkeypatch):
    """When the chosen cascade measures above --max-cost-ms, the thresholds are chosen again with the costs it
    measured; the report lists the rounds and keeps one that fits."""
    import llm_router.eval.cascade as cascade_module

    calls = []

    def fake_measure(predictors, thresholds, answered, texts):  # the first choice is slow, later ones fast
        calls.append(thresholds)
        if len(calls) == 1:
            return np.full(len(texts), 1e3), [1e3, 1e3, 1e3]
        return np.full(len(texts), 0.5), [0.1, 0.2, 0.3]

    monkeypatch.setattr(cascade_module, "measure_cascade", fake_measure)
    report = _quick_build(tmp_path / "c", levels_root, max_cost_ms=100.0)
    first, second, *_ = report["cost_rounds"]
    assert len(report["cost_rounds"]) == len(calls) <= 3
    assert first["measured_ms"] == 1e3 and second["costs_ms"] == [1e3, 1e3, 1e3]
    assert second["thresholds"] != first["thresholds"]
    assert report["thresholds"] != first["thresholds"]  # the round above the bound is not kept
    assert report["measured_ms"] == 0.5 and report["measured_within_cost"] is True
    written = json.loads((tmp_path / "c" / "router.json").read_text())
    assert [lv["threshold"] for lv in written["levels"]] == report["thresholds"]


def test_a_long_simulated_tail_tightens_the_cost_bound(tmp_path, levels_root, monkeypatch):
    """With --rate and --max-p99-ms, a choice whose simulated p99 is above the bound is followed by a cheaper one
    (at most 85% of its measured cost), and one within the bound is kept. The teacher looks free when timed alone,
    so the first choice sends it everything; inside the cascade it costs 40 ms, and the fake queue's p99 is 100 ms
    x the share of texts that reach it."""
    import llm_router.eval.cascade as cascade_module

    monkeypatch.setattr(
        cascade_module,
        "_mean_latency_ms",
        lambda predictor, texts, calls: 1e-3 if predictor.kind == "hf" else 1.0,
    )

    def fake_measure(predictors, thresholds, answered, texts):
        return np.where(answered == len(predictors) - 1, 40.0, 1.0), [1.0, 1.0, 40.0]

    def fake_queue(service_ms, rate, servers=1):
        return {"rate": rate, "p99_ms": 100.0 * float(np.mean(service_ms == 40.0))}

    monkeypatch.setattr(cascade_module, "measure_cascade", fake_measure)
    monkeypatch.setattr(cascade_module, "simulate_queue", fake_queue)
    free = _quick_build(tmp_path / "free", levels_root, target_agreement=1.0, rate=20.0)
    assert free["shares"]["teacher"] == 1.0 and free["queue"]["p99_ms"] == 100.0
    assert free["max_p99_ms"] is None and len(free["cost_rounds"]) == 1
    bounded = _quick_build(tmp_path / "b", levels_root, target_agreement=1.0, rate=20.0, max_p99_ms=50.0)
    first, second, *_ = bounded["cost_rounds"]
    assert first["queue"]["p99_ms"] == 100.0 and second["cost_bound_ms"] == pytest.approx(0.85 * 40.0)
    assert second["expected_ms"] <= second["cost_bound_ms"] + 1e-9
    assert bounded["within_bounds"] is True and bounded["queue"]["p99_ms"] <= 50.0
    assert bounded["shares"]["teacher"] <= 0.5


def test_wilson_interval():
    lo, hi = wilson_interval(38, 39)
    assert 0.85 < lo < 0.9 and hi > 0.99
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_build_writes_a_relative_cascade_folder(cascade_dir):
    router = json.loads((cascade_dir / "router.json").read_text())
    assert router["kind"] == "cascade" and router["created_by"] == "router cascade"
    assert [lv["path"] for lv in router["levels"]] == ["../static", "../student-int8", "../teacher"]
    assert router["levels"][-1]["threshold"] is None
    report = json.loads((cascade_dir / "cascade.json").read_text())
    assert (
        report["agreement_with_copies"] >= 0.95
        and report["n_val"] > 10
        and report["n_copies"] > report["n_val"]
    )
    lo, hi = report["agreement_ci95"]
    assert lo <= report["agreement"] <= hi
    assert sum(report["shares"].values()) == pytest.approx(1.0)
    assert set(report["macro_f1_val"]) == {"static", "student-int8", "teacher", "cascade"}
    # no cost bound: the chosen cascade is measured once, and every level a text reached has its in-cascade cost
    assert len(report["cost_rounds"]) == 1 and report["measured_ms"] > 0
    assert report["measured_within_cost"] is None
    in_cascade = [report["mean_ms_in_cascade"][name] for name in report["levels"]]
    active = [i for i, t in enumerate(report["thresholds"][:-1]) if t is not None] + [len(in_cascade) - 1]
    assert in_cascade[active[0]] > 0  # every text passes the first active level
    assert all(in_cascade[i] is None for i in range(len(in_cascade)) if i not in active)  # skipped levels
    assert (cascade_dir / "split.json").read_text() == (
        cascade_dir.parent / "teacher" / "split.json"
    ).read_text()
    assert not list(cascade_dir.parent.glob(".*tmp*"))  # atomic: no temporary folder left behind


def test_probe_texts_are_new_copies_of_validation_texts(levels_root):
    from llm_router.eval.cascade import probe_texts
    from llm_router.persistence import load_folder_data

    data = load_folder_data(levels_root / "teacher")
    copies = probe_texts(data, 8, seed=0)
    known = set(data.train["text"]) | set(data.val["text"]) | set(data.test["text"])
    assert len(copies) > 4 * len(data.val)  # most texts get most of their 8 copies
    assert not set(copies) & known
    assert probe_texts(data, 8, seed=0) == copies  # reproducible
    assert probe_texts(data, 0) == []


def test_probe_copies_can_be_turned_off(tmp_path, levels_root):
    report = _quick_build(tmp_path / "c", levels_root, probe_copies=0)
    assert report["n_copies"] == 0 and report["agreement"] == report["agreement_with_copies"] >= 0.95


def test_predictor_loads_cascade_and_reproduces_its_validation_agreement(cascade_dir):
    from llm_router.eval import held_out_split

    predictor = Predictor.load(cascade_dir, threads=1)
    assert isinstance(predictor, CascadePredictor) and predictor.kind == "cascade"
    val = held_out_split(cascade_dir, "val")
    texts = val["text"].tolist()
    pred = predictor.predict(texts, batch_size=8)
    teacher = Predictor.load(cascade_dir.parent / "teacher", threads=1).predict(texts)
    agreement = np.mean([a == b for a, b in zip(pred.routes, teacher.routes, strict=True)])
    report = json.loads((cascade_dir / "cascade.json").read_text())
    assert agreement == pytest.approx(report["agreement"], abs=2 / len(texts))  # batch padding may move a tie
    assert len(pred.levels) == len(texts) and set(pred.levels.tolist()) <= {0, 1, 2}
    shares = predictor.level_shares()
    assert sum(shares.values()) == pytest.approx(1.0)
    np.testing.assert_allclose(pred.route_probs.sum(axis=1), 1.0, rtol=1e-5)
    one = predictor.predict_one(texts[0])
    assert one.routes == pred.routes[:1] and len(one.levels) == 1
    assert predictor.predict([]).routes == []


class _Spy:
    """Wraps a predictor and records how many texts each call got."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []
        self.routes = inner.routes

    def predict(self, texts, batch_size=64):
        self.calls.append(len(texts))
        return self.inner.predict(texts, batch_size)

    def predict_one(self, text):
        self.calls.append(1)
        return self.inner.predict_one(text)


def test_only_undecided_rows_reach_the_next_level(cascade_dir):
    from llm_router.runtime import read_router_info

    folder, info = read_router_info(cascade_dir)
    root = cascade_dir.parent
    router = json.loads((cascade_dir / "router.json").read_text())
    for level in router["levels"][:-1]:
        level["threshold"] = 0.9  # every level active, whatever the build chose
    info.raw["levels"] = router["levels"]
    spies = [_Spy(Predictor.load(root / n, threads=1)) for n in ("static", "student-int8", "teacher")]
    predictor = CascadePredictor(folder, info, threads=1, levels=spies)
    texts = [f"write a poem about the moon number {i}" for i in range(6)] + ["solve 3x + 2 = 11 for x", "hi"]
    pred = predictor.predict(texts)
    counts = np.bincount(pred.levels, minlength=3)
    assert spies[0].calls == [len(texts)]  # one batched call per level
    assert sum(spies[1].calls) == len(texts) - counts[0]
    assert sum(spies[2].calls) == counts[2]
    assert predictor.level_shares() == pytest.approx(
        {n: c / len(texts) for n, c in zip(predictor.level_names, counts, strict=True)}
    )


def test_threshold_zero_and_skipped_levels(tmp_path, levels_root):
    out = tmp_path / "c"
    out.mkdir()
    router = {
        "kind": "cascade",
        "labels": ["Claude", "gemini-mini", "gpt-o1"],
        "levels": [
            {"path": str(levels_root / "static"), "threshold": None},  # skipped: never loaded
            {"path": str(levels_root / "student-int8"), "threshold": 0.0},
            {"path": str(levels_root / "teacher")},
        ],
    }
    (out / "router.json").write_text(json.dumps(router))
    predictor = Predictor.load(out, threads=1)
    assert predictor.level_names == ["student-int8", "teacher"]
    texts = ["hi paris", "solve 2x + 1 = 5 for x", "write a poem about coffee"]
    student = Predictor.load(levels_root / "student-int8", threads=1).predict(texts)
    pred = predictor.predict(texts)
    assert pred.routes == student.routes and pred.levels.tolist() == [0, 0, 0]


def test_a_degraded_prediction_leaves_out_the_most_expensive_levels(cascade_dir):
    from llm_router.runtime import read_router_info

    folder, info = read_router_info(cascade_dir)
    root = cascade_dir.parent
    router = json.loads((cascade_dir / "router.json").read_text())
    for level in router["levels"][:-1]:
        level["threshold"] = 0.999  # most texts would go on to the teacher
    info.raw["levels"] = router["levels"]
    spies = [_Spy(Predictor.load(root / n, threads=1)) for n in ("static", "student-int8", "teacher")]
    predictor = CascadePredictor(folder, info, threads=1, levels=spies)
    texts = [f"write a poem about the moon number {i}" for i in range(5)] + ["solve 3x + 2 = 11 for x"]
    pred = predictor.predict_degraded(texts, drop=1)
    assert spies[2].calls == []  # the teacher is left out; the student answers what reaches it
    assert pred.levels.max() <= 1
    student_rows = pred.levels == 1
    student = spies[1].inner.predict([t for t, s in zip(texts, student_rows, strict=True) if s])
    assert [r for r, s in zip(pred.routes, student_rows, strict=True) if s] == student.routes
    pred = predictor.predict_degraded(texts, drop=5)  # clipped: the first level always stays
    assert pred.levels.tolist() == [0] * len(texts)
    assert pred.routes == spies[0].inner.predict(texts).routes
    counts, degraded = predictor.level_counts()
    assert degraded == 2 * len(texts) and sum(counts.values()) == 2 * len(texts)
    assert predictor.predict_degraded(texts, drop=0).levels.max() <= 2  # drop 0: the full cascade
    assert predictor.level_counts()[1] == 2 * len(texts)
    predictor.reset_counts()
    assert predictor.level_counts() == ({n: 0 for n in predictor.level_names}, 0)


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ([{"path": "x"}], "at least two"),
        ([{"path": "missing-a", "threshold": 0.5}, {"path": "missing-b"}], "not found"),
        ([{"path": "a", "threshold": 1.5}, {"path": "b"}], "outside"),
    ],
)
def test_bad_cascade_folders_are_one_line_errors(tmp_path, levels, message):
    (tmp_path / "router.json").write_text(
        json.dumps({"kind": "cascade", "labels": ["a", "b"], "levels": levels})
    )
    with pytest.raises(RouterError, match=message):
        Predictor.load(tmp_path)


def test_cascade_cli_and_errors(tmp_path, levels_root):
    runner = CliRunner()
    out = tmp_path / "cli-cascade"
    levels = ",".join(_levels(levels_root)[1:])
    result = runner.invoke(
        app,
        [
            "cascade",
            "--levels",
            levels,
            "--out",
            str(out),
            "--target-agreement",
            "0.9",
            "--json",
            str(tmp_path / "c.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "agreement with teacher" in result.stdout and (out / "router.json").exists()
    assert json.loads((tmp_path / "c.json").read_text())["levels"] == ["student-int8", "teacher"]
    bad = runner.invoke(app, ["cascade", "--levels", levels.split(",")[0], "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "at least two levels" in bad.stderr and "Traceback" not in bad.output
    bad = runner.invoke(
        app, ["cascade", "--levels", f"{tmp_path / 'nope'},{levels}", "--out", str(tmp_path / "y")]
    )
    assert bad.exit_code == 2 and "no such model" in bad.stderr


def test_compare_and_eval_take_a_cascade(cascade_dir):
    from llm_router.eval import evaluate
    from llm_router.eval.compare import CompareConfig, compare_models, comparison_table

    config = CompareConfig(threads=1, n_latency=10, warmup=2, min_throughput_texts=20)
    rows = compare_models(
        [f"teacher={cascade_dir.parent / 'teacher'}", f"cascade={cascade_dir}"], config, progress=False
    )
    teacher, cascade = rows
    assert teacher["level_shares"] is None and cascade["kind"] == "cascade"
    assert sum(cascade["level_shares"].values()) == pytest.approx(1.0)
    assert cascade["mean_ms"] > 0 and cascade["p99_ms"] >= cascade["p50_ms"]
    assert cascade["params"] > teacher["params"]  # every served level counts
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(comparison_table(rows))
    assert "answered by" in console.export_text()
    report = evaluate(cascade_dir, threads=1, n_boot=0)
    assert 0 <= report["macro_f1"] <= 1 and report["n"] == cascade["n_test"]


def test_serve_routes_with_a_cascade(cascade_dir):
    import httpx

    from llm_router.serve import ServeConfig, serve_in_thread

    predictor = Predictor.load(cascade_dir, threads=1)
    with serve_in_thread(predictor, ServeConfig(port=0, drain_timeout_s=5.0), wait_ready=True) as state:
        one = httpx.post(state.base_url + "/route", json={"text": "write a poem about the sea"})
        many = httpx.post(
            state.base_url + "/route/batch", json={"texts": ["hi tokyo", "solve 2x + 3 = 9 for x"]}
        )
    assert one.status_code == 200 and one.json()["route"] in predictor.routes
    assert many.status_code == 200
    assert sum(predictor.answered) == 3  # the warm-up texts are not counted


def test_metrics_count_a_served_cascades_levels(cascade_dir):
    import httpx

    from llm_router.bench.http import cascade_counters, cascade_shares
    from llm_router.serve import ServeConfig, serve_in_thread

    predictor = Predictor.load(cascade_dir, threads=1)
    config = ServeConfig(port=0, drain_timeout_s=5.0, brownout_ms=1000.0)
    with serve_in_thread(predictor, config, wait_ready=True) as state:
        before = cascade_counters(state.base_url)
        for text in ("hi tokyo", "solve 2x + 3 = 9 for x", "write a poem about the sea"):
            assert httpx.post(state.base_url + "/route", json={"text": text}).status_code == 200
        after = cascade_counters(state.base_url)
    assert before == ({n: 0 for n in predictor.level_names}, 0)
    assert sum(after[0].values()) == 3 and after[1] == 0  # no request waited a second: nothing degraded
    shares = cascade_shares(before, after)
    assert shares["texts"] == 3 and sum(shares["levels"].values()) == pytest.approx(1.0)
    assert shares["brownout_share"] == 0.0
    assert cascade_shares(None, after) is None


def test_a_level_the_cascade_skipped_is_timed_again_for_the_next_choice(tmp_path, levels_root, monkeypatch):
    """A level's first timing can catch the machine in a slow moment; when the chosen cascade skipped that level
    and measured off the cost model, the next choice times it again instead of scaling the first reading."""
    import llm_router.eval.cascade as cascade_module

    readings: dict[str, list[float]] = {"static": [1.0], "onnx": [50.0, 1.0], "hf": [10.0]}

    def fake_latency(predictor, texts, calls):
        values = readings[predictor.kind]
        return values.pop(0) if len(values) > 1 else values[0]

    def fake_measure(predictors, thresholds, answered, texts):  # far off the model: choose again
        in_cascade = [1.0 if t is not None else None for t in thresholds[:-1]] + [10.0]
        return np.full(len(texts), 1e3), in_cascade

    monkeypatch.setattr(cascade_module, "_mean_latency_ms", fake_latency)
    monkeypatch.setattr(cascade_module, "measure_cascade", fake_measure)
    timed = []
    real_choose = cascade_module.choose_thresholds

    def spy_choose(tops, agrees, costs, *args, **kwargs):
        timed.append(list(costs))
        return real_choose(tops, agrees, costs, *args, **kwargs)

    monkeypatch.setattr(cascade_module, "choose_thresholds", spy_choose)
    report = _quick_build(tmp_path / "c", levels_root, max_cost_ms=100.0)
    first = report["cost_rounds"][0]
    # at 50 ms the middle level costs more than the teacher (10 ms) it would spare: the first choice skips it
    assert first["costs_ms"][1] == 50.0 and first["thresholds"][1] is None
    assert len(timed) >= 2 and readings["onnx"] == [1.0]  # the next choice timed it again...
    scale = first["measured_ms"] / first["expected_ms"]
    assert timed[1][1] == pytest.approx(1.0 * scale)  # ...and used that reading (1 ms), not the first (50 ms)


def test_a_level_can_be_the_float_file_of_an_int8_folder(levels_root):
    """The pipeline ends its cascade in the teacher's float ONNX file (``teacher-int8/model.onnx``), so agreement
    is measured against the float model, not its INT8 copy; the level's path names the file, and the served
    cascade loads that file, not the folder's INT8 one."""
    int8 = levels_root / "student-int8"
    levels = [str(levels_root / "static"), str(int8), str(int8 / "model.onnx")]
    out = levels_root / "cascade-float"
    report = build_cascade(
        CascadeConfig(levels=levels, out=str(out), target_agreement=0.95, latency_calls=2, probe_copies=0)
    )
    assert report["levels"] == ["static", "student-int8", "student-int8/model"]
    assert report["level_agreement"]["student-int8/model"] == 1.0
    router = json.loads((out / "router.json").read_text())
    assert [lv["path"] for lv in router["levels"]][1:] == ["../student-int8", "../student-int8/model.onnx"]
    assert (out / "split.json").read_text() == (int8 / "split.json").read_text()
    served = Predictor.load(out)
    assert served.level_predictors[-1].onnx_file == "model.onnx"
    if "student-int8" in served.level_names:  # not skipped: the folder serves its INT8 file
        assert (
            served.level_predictors[served.level_names.index("student-int8")].onnx_file == "model_int8.onnx"
        )
    # --out is never a level itself (nor a folder above one: check_replaceable)
    with pytest.raises(RouterError, match="would replace the input"):
        build_cascade(CascadeConfig(levels=levels, out=str(int8), latency_calls=2, probe_copies=0))


def test_agreement_is_measured_against_a_separate_reference(tmp_path, levels_root):
    """``reference``: a model that is not served (the float teacher) against which agreement is measured; the last
    level's own disagreements with it then count, and the report and router.json name it."""
    from llm_router.eval.cascade import level_outputs
    from llm_router.persistence import load_folder_data

    levels = [str(levels_root / "static"), str(levels_root / "student-int8")]
    reference = levels_root / "teacher"
    report = build_cascade(
        CascadeConfig(
            levels=levels, reference=str(reference), out=str(tmp_path / "c"), latency_calls=2, probe_copies=0
        )
    )
    assert report["reference"] == "teacher"
    assert json.loads((tmp_path / "c" / "router.json").read_text())["reference"] == "teacher"
    val = list(load_folder_data(reference).val["text"])
    routes = Predictor.load(reference).routes
    _, ref_routes = level_outputs(Predictor.load(reference), val, routes)
    _, last_routes = level_outputs(Predictor.load(levels[-1]), val, routes)
    expected = np.mean([a == b for a, b in zip(last_routes, ref_routes, strict=True)])
    assert report["level_agreement"]["student-int8"] == pytest.approx(expected)
    with pytest.raises(RouterError, match="no such model"):
        build_cascade(CascadeConfig(levels=levels, reference=str(tmp_path / "nope"), out=str(tmp_path / "d")))


def test_the_kept_round_is_the_cheapest_of_the_most_agreeing():
    """Of the measured rounds, the same rule as the choice: out of reach of the target, the most agreeing round
    within the bounds is kept, even when one a text short of it costs two thirds as much."""
    from llm_router.eval.cascade import _kept_round

    config = CascadeConfig(levels=["a", "b"], out="c", target_agreement=0.99, max_cost_ms=5.0)

    def measured(agreement, ms, reached=False):
        chosen = {"agreement": agreement, "reached_target": reached}
        return {"chosen": chosen, "measured_ms": ms, "queue": {"p99_ms": 20.0}}

    best, close, far = measured(0.980, 4.6), measured(0.976, 3.2), measured(0.95, 1.0)
    assert _kept_round([best, close, far], config) is best
    dearer = measured(0.980, 4.9)
    assert _kept_round([close, far, dearer], config) is dearer
    assert _kept_round([dearer, best], config) is best  # of equals, the cheaper
    over = measured(0.999, 6.0, reached=True)  # over the cost bound: never kept while another fits
    assert _kept_round([over, best], config) is best
    assert _kept_round([best, measured(0.99, 4.9, reached=True)], config)["chosen"]["reached_target"]
