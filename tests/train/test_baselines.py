"""Baselines on the teacher's split: a servable TF-IDF folder (`kind: linear`) and frozen-encoder scores."""

import json
import shutil

import numpy as np

from llm_router.runtime import LinearPredictor, Predictor
from llm_router.train.baselines import BaselineConfig, fit_tfidf, run_baselines, verdict
from llm_router.utils import read_json


def test_run_baselines_writes_a_servable_tfidf_folder(tiny_classifier_dir, tmp_path):
    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_classifier_dir, teacher)
    router = read_json(teacher / "router.json")
    router["base_model"] = str(teacher)  # the frozen baseline embeds with the teacher folder's own encoder
    (teacher / "router.json").write_text(json.dumps(router))
    (teacher / "history.json").write_text(json.dumps([{"epoch": 1, "val_macro_f1": 0.5}]))
    result = run_baselines(teacher, tmp_path / "tfidf", BaselineConfig(c_grid=(1.0, 10.0)))

    assert set(result["baselines"]) == {"tfidf", "frozen"}
    for row in result["baselines"].values():
        assert 0 <= row["val_macro_f1"] <= 1 and 0 <= row["test_macro_f1"] <= 1
    assert read_json(teacher / "baselines.json") == result
    assert result["teacher_val_macro_f1"] == 0.5 and result["verdict"].startswith(("teacher", "the "))

    predictor = Predictor.load(tmp_path / "tfidf")
    assert isinstance(predictor, LinearPredictor) and predictor.routes == router["routes"]
    assert read_json(tmp_path / "tfidf" / "split.json") == read_json(teacher / "split.json")
    texts = ["write a poem about the sea", "solve 3x + 4 = 19 for x", "hi there"]
    prediction = predictor.predict(texts)
    np.testing.assert_allclose(prediction.route_probs.sum(axis=1), 1.0, atol=1e-5)
    assert prediction.routes == [predictor.predict_one(t).routes[0] for t in texts]


def test_the_folder_predicts_exactly_what_sklearn_predicts(tmp_path):
    from llm_router.train.baselines import write_linear_folder

    texts = ["write a poem", "write a story", "solve x + 1 = 2", "integrate x^2", "hi", "hello there"] * 3
    labels = ["Claude", "Claude", "gpt-o1", "gpt-o1", "gemini-mini", "gemini-mini"] * 3
    vectorizer, clf, c, val_f1 = fit_tfidf(texts, labels, [], [], BaselineConfig())
    assert val_f1 is None and c == BaselineConfig().c_grid[0]
    out = tmp_path / "linear"
    out.mkdir()
    write_linear_folder(out, vectorizer, clf, routes=sorted(set(labels)), data=None, split=None, notes={})
    probe = ["write a sonnet", "solve 2x = 4", "hello friend"]
    ours = Predictor.load(out).predict(probe)
    assert ours.routes == list(clf.predict(vectorizer.transform(probe)))
    np.testing.assert_allclose(ours.label_probs, clf.predict_proba(vectorizer.transform(probe)), atol=1e-5)


def test_unresolvable_encoder_is_reported_not_raised(tiny_classifier_dir, tmp_path):
    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_classifier_dir, teacher)  # base_model "tiny-random-bert" exists nowhere offline
    result = run_baselines(teacher, None, BaselineConfig(c_grid=(1.0,)))
    assert "error" in result["baselines"]["frozen"] and "folder" not in result["baselines"]["tfidf"]


def test_verdict_names_the_winner():
    row = {"baselines": {"tfidf": {"val_macro_f1": 0.6}}, "teacher_val_macro_f1": 0.5}
    assert verdict(row).startswith("the tfidf baseline (0.600) beats the teacher")
    row["teacher_val_macro_f1"] = 0.7
    assert verdict(row).startswith("teacher 0.700 beats")
