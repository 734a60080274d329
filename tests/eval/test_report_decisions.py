"""The report states the calibration and the routing policy behind every number it shows."""

import shutil

from llm_router.eval.report import decision_setup
from llm_router.runtime.calibration import Calibration, write_calibration
from llm_router.runtime.policy import Policy, write_policy


def test_decision_setup_names_calibration_and_policy(tiny_classifier_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_classifier_dir, folder)
    assert decision_setup(folder) == "uncalibrated (temperature 1); policy argmax"
    write_calibration(folder, Calibration(temperature=1.7, fitted_on="val split (30 rows)"))
    write_policy(folder, Policy(rule="threshold", min_confidence={"gpt-o1": 0.6}, fallback="Claude"))
    assert decision_setup(folder) == "temperature 1.7 fitted on val split (30 rows); policy threshold"


def test_a_broken_sidecar_is_reported_not_raised(tiny_classifier_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_classifier_dir, folder)
    write_calibration(folder, Calibration(temperature=2.0))
    (folder / "calibration.json").unlink()
    assert decision_setup(folder).startswith("unreadable")
