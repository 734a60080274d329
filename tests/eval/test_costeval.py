"""`router costeval` and the calibration commands end to end on the tiny classifier, with synthetic outcomes:
the labelled route is right, gpt-o1 is always right, and gemini-mini < Claude < gpt-o1 in cost."""

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from llm_router.cli import app
from llm_router.eval.costeval import CostEvalConfig, costeval_if_outcomes, run_costeval

COSTS = {"gemini-mini": 1.0, "Claude": 4.0, "gpt-o1": 5.0}


@pytest.fixture
def outcome_model(tiny_classifier_dir, tmp_path):
    """A copy of the tiny classifier whose router.json names a copy of its data with outcome columns."""
    model = shutil.copytree(tiny_classifier_dir, tmp_path / "model")
    info = json.loads((model / "router.json").read_text())
    df = pd.read_csv(info["data"]["path"])
    for route, cost in COSTS.items():
        df[f"score_{route}"] = ((df["label"] == route) | (route == "gpt-o1")).astype(float)
        df[f"cost_{route}"] = cost
    path = tmp_path / "outcomes.csv"
    df.to_csv(path, index=False)
    info["data"]["path"] = str(path)
    (model / "router.json").write_text(json.dumps(info))
    return model


def test_costeval_on_the_models_test_split(outcome_model, tmp_path):
    res = run_costeval(
        CostEvalConfig(model=str(outcome_model), n_boot=100, lambdas=21, out=str(tmp_path / "ce"))
    )
    assert (tmp_path / "ce" / "costquality.json").exists() and (tmp_path / "ce" / "costquality.png").exists()
    assert res["n"] == 24 and len(res["curve"]) == 21  # the tiny model's 20% test split of 120 rows
    assert res["weak_route"] == "gemini-mini" and res["strong_route"] == "gpt-o1"
    assert res["single_routes"]["gpt-o1"] == {"cost": 5.0, "quality": 1.0}
    assert res["oracle"]["quality"] == 1.0 and "by construction" in res["oracle_note"]
    # lambda = 0: best expected quality; the largest lambda: the cheapest route everywhere
    assert res["curve"][-1]["split"]["gemini-mini"] == 1.0
    assert res["curve"][0]["quality"] >= 0.9
    # a router that mostly knows the route beats random mixing and saves cost at 95% of gpt-o1's quality
    assert res["aiq"] > res["aiq_zero_router"]
    assert res["saving_at_target_hull"] > 1.5
    assert res["policy_fitted_on"].startswith("96 rows")  # the train + val rows


def test_costeval_with_a_split_column_and_the_pipeline_hook(outcome_model, tmp_path):
    info = json.loads((outcome_model / "router.json").read_text())
    df = pd.read_csv(info["data"]["path"])
    df["part"] = ["test" if i % 3 == 0 else "train" for i in range(len(df))]
    path = tmp_path / "with_split.csv"
    df.to_csv(path, index=False)
    res = run_costeval(
        CostEvalConfig(
            model=str(outcome_model), data=str(path), split_col="part", n_boot=0, out=str(tmp_path / "a")
        )
    )
    assert res["n"] == 40 and "ci95" not in res
    assert costeval_if_outcomes(outcome_model, tmp_path / "b", n_boot=10)["n"] == 24


def test_cli_costeval_and_bad_input(outcome_model, tiny_classifier_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["costeval", "--model", str(outcome_model), "--bootstrap", "20", "--json", str(tmp_path / "r.json")],
    )
    assert result.exit_code == 0, result.output
    assert "AIQ router" in result.output and json.loads((tmp_path / "r.json").read_text())["n"] == 24
    # the original data has no outcome columns: one line, exit 2
    bad = runner.invoke(app, ["costeval", "--model", str(tiny_classifier_dir)])
    assert bad.exit_code == 2 and "score_Claude" in bad.output and "Traceback" not in bad.output
    assert costeval_if_outcomes(tiny_classifier_dir, tmp_path / "none") is None


def test_cli_calibrate_eval_and_policy(outcome_model, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["calibrate", "--model", str(outcome_model), "--threads", "1"])
    assert result.exit_code == 0, result.output
    cal = json.loads((outcome_model / "calibration.json").read_text())
    assert cal["temperature"] > 0 and cal["n"] == 30  # the tiny model's validation split
    assert cal["after"]["nll"] <= cal["before"]["nll"] + 1e-9  # the fit minimises NLL on these rows
    out = tmp_path / "eval.json"
    result = runner.invoke(app, ["eval", "--model", str(outcome_model), "--threads", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())["calibration"]
    assert report["temperature"] == pytest.approx(cal["temperature"]) and report["calibrated"]
    assert set(report["before"]) >= {"ece", "brier", "nll", "bins", "ece_noise_floor"}
    assert (tmp_path / "eval_reliability.png").exists()

    result = runner.invoke(
        app, ["policy", "--model", str(outcome_model), "--rule", "threshold", "--min-confidence", "0.99",
              "--fallback", "gpt-o1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((outcome_model / "policy.json").read_text())["fallback"] == "gpt-o1"
    result = runner.invoke(app, ["policy", "--model", str(outcome_model), "--rule", "cost", "--outcomes",
                                 str(json.loads((outcome_model / "router.json").read_text())["data"]["path"]),
                                 "--lambda", "0.01"])  # fmt: skip
    assert result.exit_code == 0, result.output
    policy = json.loads((outcome_model / "policy.json").read_text())
    assert (
        policy["rule"] == "cost" and policy["costs"] == COSTS and policy["quality"]["Claude"]["gpt-o1"] == 1.0
    )
    assert runner.invoke(app, ["policy", "--model", str(outcome_model), "--rule", "argmax"]).exit_code == 0
    assert not (outcome_model / "policy.json").exists()
    for args in (["--rule", "threshold"], ["--rule", "cost"], ["--rule", "nope"], ["--rule", "threshold",
                 "--fallback", "Claude", "--min-confidence", "x"]):  # fmt: skip
        bad = runner.invoke(app, ["policy", "--model", str(outcome_model), *args])
        assert bad.exit_code == 2 and "Traceback" not in bad.output, args
    # a rule's options without that rule are refused, not ignored (nothing is written)
    for args, flag in ((["--min-confidence", "0.5"], "--min-confidence"),
                       (["--rule", "argmax", "--cost", "Claude=1"], "--cost"),
                       (["--rule", "threshold", "--fallback", "Claude", "--lambda", "0.1"], "--lambda")):  # fmt: skip
        bad = runner.invoke(app, ["policy", "--model", str(outcome_model), *args])
        assert bad.exit_code == 2 and flag in bad.output and "Traceback" not in bad.output, args
        assert not (outcome_model / "policy.json").exists()
