"""Blending two models' route probabilities: the weight is chosen on validation, members and blend on test."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from llm_router.errors import RouterError
from llm_router.eval.ensemble import blend_eval, choose_weight
from llm_router.train.baselines import BaselineConfig, run_baselines
from llm_router.utils import read_json


def test_choose_weight_takes_the_best_validation_f1_and_breaks_ties_towards_the_better_member():
    routes = ["a", "b"]
    y = ["a", "a", "b", "b"]
    good = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9]])
    bad = good[:, ::-1]  # always wrong
    w, scores = choose_weight(good, bad, y, routes, (0.0, 0.25, 0.5, 0.75, 1.0))
    assert dict(scores)[0.0] == 0.0 and dict(scores)[1.0] == 1.0
    assert w == 1.0  # 0.75 and 1.0 both score 1.0: a blend must beat the better member to be chosen
    w_b, _ = choose_weight(bad, good, y, routes, (0.0, 0.25, 0.5, 1.0))
    assert w_b == 0.0
    mixed = np.array([[0.6, 0.4], [0.4, 0.6], [0.4, 0.6], [0.4, 0.6]])  # right on 3 of 4
    other = np.array(
        [[0.55, 0.45], [0.9, 0.1], [0.45, 0.55], [0.55, 0.45]]
    )  # right on 3 of 4, other mistakes
    w_mix, scores_mix = choose_weight(mixed, other, y, routes, (0.0, 0.5, 1.0))
    assert dict(scores_mix)[0.5] == 1.0 and w_mix == 0.5  # the blend fixes both members' mistakes


@pytest.fixture(scope="module")
def two_views(tiny_classifier_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("blend")
    teacher = root / "teacher"
    shutil.copytree(tiny_classifier_dir, teacher)
    run_baselines(teacher, root / "tfidf", BaselineConfig(c_grid=(1.0,), frozen=False))
    return teacher, root / "tfidf"


def test_blend_reports_both_members_and_the_blend_on_the_same_test_rows(two_views):
    teacher, tfidf = two_views
    result = blend_eval(teacher, tfidf, weights=(0.0, 0.5, 1.0))
    test = result["test"]
    assert test["a"]["n"] == test["b"]["n"] == test["blend"]["n"] > 0
    scores = dict(result["val_macro_f1_by_weight"])
    assert scores[result["weight_a"]] == max(scores.values())
    assert blend_eval(teacher, tfidf, weights=(1.0,))["test"]["blend"] == test["a"]
    assert blend_eval(teacher, tfidf, weights=(0.0,))["test"]["blend"] == test["b"]


def test_blend_refuses_models_trained_on_different_splits(two_views, tmp_path):
    teacher, tfidf = two_views
    other = tmp_path / "other"
    shutil.copytree(tfidf, other)
    split = read_json(other / "split.json")
    split["seed"] = split.get("seed", 0) + 1
    (other / "split.json").write_text(json.dumps(split))
    with pytest.raises(RouterError, match="same split"):
        blend_eval(teacher, other)
