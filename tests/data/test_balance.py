"""Class weights and over-sampling (training split only)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.class_weight import compute_class_weight

from llm_router.data.balance import class_weights, oversample
from llm_router.errors import RouterError

LABELS = ["a"] * 12 + ["b"] * 6 + ["c"] * 3
CLASSES = ["a", "b", "c"]


def test_balanced_matches_sklearn():
    expected = compute_class_weight("balanced", classes=np.array(CLASSES), y=np.array(LABELS))
    assert class_weights(LABELS, CLASSES, "balanced") == pytest.approx(expected)


def test_sqrt_is_milder_and_keeps_the_mean_example_weight_at_one():
    balanced = class_weights(LABELS, CLASSES, "balanced")
    sqrt = class_weights(LABELS, CLASSES, "sqrt")
    counts = np.array([12, 6, 3])
    assert (counts * sqrt).sum() == pytest.approx(counts.sum())
    assert sqrt[2] / sqrt[0] == pytest.approx(np.sqrt(balanced[2] / balanced[0]))  # half the log-ratio
    assert sqrt[0] < sqrt[1] < sqrt[2]


def test_none_and_absent_class_and_bad_mode():
    assert class_weights(LABELS, CLASSES, "none") is None
    w = class_weights(LABELS, [*CLASSES, "d"], "balanced")
    assert w[3] == 1.0 and w[:3] == pytest.approx(
        compute_class_weight("balanced", classes=np.array(CLASSES), y=np.array(LABELS))
    )
    with pytest.raises(RouterError, match="class weighting"):
        class_weights(LABELS, CLASSES, "log")


def frame():
    return pd.DataFrame({"text": [f"t{i}" for i in range(len(LABELS))], "label": LABELS})


def test_oversample_to_full_balance_keeps_every_original():
    df = frame()
    out = oversample(df, 1.0, seed=0)
    assert out["label"].value_counts().to_dict() == {"a": 12, "b": 12, "c": 12}
    assert (out.loc[~out["oversampled"], "text"].tolist()) == df["text"].tolist()
    added = out[out["oversampled"]]
    assert set(added["text"]) <= set(df.loc[df["label"] != "a", "text"])
    # spread evenly: each of the 3 "c" rows is repeated 3 times (9 added)
    assert added[added["label"] == "c"]["text"].value_counts().tolist() == [3, 3, 3]


def test_oversample_partial_ratio_and_determinism():
    out = oversample(frame(), 0.5, seed=1)
    assert out["label"].value_counts().to_dict() == {"a": 12, "b": 6, "c": 6}
    assert out.equals(oversample(frame(), 0.5, seed=1))
    assert oversample(frame(), 0.0) is not None and len(oversample(frame(), 0.0)) == len(LABELS)
    with pytest.raises(RouterError):
        oversample(frame(), 1.5)
