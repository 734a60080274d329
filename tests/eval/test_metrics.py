"""Metrics against scikit-learn on hand-made predictions."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from llm_router.errors import RouterError
from llm_router.eval.metrics import bootstrap_macro_f1, classification_report
from llm_router.utils.probs import routes_from_labels

LABELS = ["Claude", "gemini-mini", "gpt-o1"]
Y_TRUE = ["Claude"] * 6 + ["gemini-mini"] * 3 + ["gpt-o1"] * 4
Y_PRED = [
    "Claude",
    "Claude",
    "Claude",
    "Claude",
    "gpt-o1",
    "gemini-mini",
    "gemini-mini",
    "Claude",
    "gemini-mini",
    "gpt-o1",
    "gpt-o1",
    "Claude",
    "gpt-o1",
]


def test_report_matches_sklearn():
    rep = classification_report(Y_TRUE, Y_PRED, LABELS, n_boot=200)
    assert rep["accuracy"] == pytest.approx(accuracy_score(Y_TRUE, Y_PRED))
    assert rep["macro_f1"] == pytest.approx(f1_score(Y_TRUE, Y_PRED, average="macro"))
    assert rep["weighted_f1"] == pytest.approx(f1_score(Y_TRUE, Y_PRED, average="weighted"))
    p, r, f, s = precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=LABELS)
    for i, label in enumerate(LABELS):
        row = rep["per_class"][label]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (p[i], r[i], f[i], s[i])
        )
    assert rep["confusion_matrix"] == confusion_matrix(Y_TRUE, Y_PRED, labels=LABELS).tolist()
    assert rep["labels"] == LABELS and rep["n"] == len(Y_TRUE)
    lo, hi = rep["macro_f1_ci95"]
    assert 0 <= lo < rep["macro_f1"] < hi <= 1


def test_label_order_follows_labels_argument():
    order = ["gpt-o1", "Claude", "gemini-mini"]
    rep = classification_report(Y_TRUE, Y_PRED, order, n_boot=0)
    assert rep["confusion_matrix"] == confusion_matrix(Y_TRUE, Y_PRED, labels=order).tolist()
    assert list(rep["per_class"]) == order
    assert rep["macro_f1_ci95"] == [None, None]


def test_class_never_predicted_or_absent_counts_zero_like_sklearn():
    y_true, y_pred = ["a", "a", "b", "b"], ["a", "a", "a", "a"]
    rep = classification_report(y_true, y_pred, ["a", "b", "c"], n_boot=0)
    assert rep["macro_f1"] == pytest.approx(
        f1_score(y_true, y_pred, labels=["a", "b", "c"], average="macro", zero_division=0)
    )
    assert rep["per_class"]["c"]["support"] == 0


def test_bootstrap_matches_sklearn_on_each_resample():
    labels = np.array(LABELS)
    t = np.array([LABELS.index(x) for x in Y_TRUE])
    p = np.array([LABELS.index(x) for x in Y_PRED])
    scores = bootstrap_macro_f1(t, p, 3, n_boot=25, seed=7)
    rng = np.random.default_rng(7)
    idx = rng.integers(0, len(t), size=(25, len(t)))
    for b in range(25):
        expected = f1_score(
            labels[t[idx[b]]], labels[p[idx[b]]], labels=LABELS, average="macro", zero_division=0
        )
        assert scores[b] == pytest.approx(expected)


def test_bootstrap_is_deterministic_for_a_seed():
    a = classification_report(Y_TRUE, Y_PRED, LABELS, n_boot=300, seed=3)["macro_f1_ci95"]
    b = classification_report(Y_TRUE, Y_PRED, LABELS, n_boot=300, seed=3)["macro_f1_ci95"]
    assert a == b


def test_misroutes_sorted_by_confidence_with_text():
    probs = np.full((len(Y_TRUE), 3), 0.1)
    for i, pred in enumerate(Y_PRED):
        probs[i, LABELS.index(pred)] = 0.5 + i / 100  # later rows more confident
    texts = [f"q{i}" for i in range(len(Y_TRUE))]
    rep = classification_report(Y_TRUE, Y_PRED, LABELS, probs=probs, texts=texts, n_boot=0)
    wrong = [i for i, (t, p) in enumerate(zip(Y_TRUE, Y_PRED, strict=True)) if t != p]
    assert [m["text"] for m in rep["misroutes"]] == [f"q{i}" for i in sorted(wrong, reverse=True)]
    assert all(m["true"] != m["pred"] for m in rep["misroutes"])
    confidences = [m["confidence"] for m in rep["misroutes"]]
    assert confidences == sorted(confidences, reverse=True)


def test_bad_inputs_raise_router_error():
    with pytest.raises(RouterError, match="not among"):
        classification_report(["a", "x"], ["a", "a"], ["a", "b"])
    with pytest.raises(RouterError, match="predictions"):
        classification_report(["a"], ["a", "b"], ["a", "b"])
    with pytest.raises(RouterError, match="shape"):
        classification_report(["a"], ["a"], ["a", "b"], probs=np.ones((1, 3)))


def test_routes_from_labels_sums_label_probabilities():
    labels = ["chat", "code", "poem"]
    probs = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    route_map = {"chat": "gemini-mini", "code": "gpt-o1", "poem": "gemini-mini"}
    out = routes_from_labels(probs, labels, route_map, ["gemini-mini", "gpt-o1"])
    assert out == pytest.approx(np.array([[0.5, 0.5], [0.9, 0.1]]))
    same = routes_from_labels(probs, labels, None, ["poem", "chat", "code"])
    assert same == pytest.approx(probs[:, [2, 0, 1]])


def test_agreement_is_the_share_of_equal_routes_with_its_wilson_interval():
    from llm_router.eval.metrics import agreement, wilson_interval

    result = agreement(["a", "b", "a", "c"], ["a", "b", "c", "c"])
    assert result["value"] == 0.75
    assert result["ci95"] == list(wilson_interval(3, 4))
    with pytest.raises(ValueError):
        agreement(["a"], ["a", "b"])
