"""Static-shape bucketing of the GPU path, checked on CPU (numpy, and the PyTorch model with padding only)."""

import numpy as np
import pytest

from llm_router.runtime.buckets import (
    BucketPlan,
    batch_buckets_for,
    pad_to_bucket,
    pick_bucket,
    seq_buckets_for,
)


def test_bucket_sizes():
    assert seq_buckets_for(128) == (16, 32, 64, 128)
    assert seq_buckets_for(48) == (16, 32, 48)
    assert seq_buckets_for(10) == (10,)
    assert batch_buckets_for(64) == (1, 2, 4, 8, 16, 32, 64)
    assert batch_buckets_for(24) == (1, 2, 4, 8, 16, 24)


def test_pick_bucket():
    assert pick_bucket(1, (1, 2, 4)) == 1
    assert pick_bucket(3, (1, 2, 4)) == 4
    with pytest.raises(ValueError):
        pick_bucket(5, (1, 2, 4))


def test_pad_to_bucket_pads_rows_and_columns():
    features = {
        "input_ids": np.array([[2, 7, 3], [2, 3, 0]]),
        "attention_mask": np.array([[1, 1, 1], [1, 1, 0]]),
        "token_type_ids": np.zeros((2, 3), dtype=np.int64),
    }
    padded = pad_to_bucket(features, batch=4, seq=5, pad_id=9)
    assert padded["input_ids"].shape == (4, 5)
    np.testing.assert_array_equal(padded["input_ids"][0], [2, 7, 3, 9, 9])
    np.testing.assert_array_equal(padded["attention_mask"][:2], [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]])
    # padding rows attend to one position only, so no attention row is fully masked
    np.testing.assert_array_equal(padded["attention_mask"][2:], [[1, 0, 0, 0, 0]] * 2)
    assert (padded["input_ids"][2:] == 9).all()
    with pytest.raises(ValueError):
        pad_to_bucket(features, batch=1, seq=5)


def test_plan_shapes():
    plan = BucketPlan(max_length=64, max_batch=8)
    assert plan.shape_for(3, 17) == (4, 32)
    assert plan.shape_for(1, 5) == (1, 16)
    assert len(plan.all_shapes()) == 4 * 3


def test_torch_padded_path_matches_dynamic_shapes(tiny_classifier_dir):
    """The bucket padding used before CUDA graphs changes no prediction (checked with eager PyTorch on CPU)."""
    from llm_router.runtime import TorchPredictor

    texts = [
        "hi",
        "write a poem about the moon",
        "solve 3x + 4 = 19 for x and explain every step in detail",
        "thanks, boss!",
        "what time is it in tokyo",
    ]
    dynamic = TorchPredictor.load(tiny_classifier_dir, threads=1)
    padded = TorchPredictor.load(tiny_classifier_dir, threads=1, static_shapes="pad", max_batch=4)
    assert padded.plan.shape_for(3, 20) == (4, 32)
    np.testing.assert_allclose(padded._logits(texts), dynamic._logits(texts), atol=1e-5)
    np.testing.assert_allclose(padded._logits(texts[:1]), dynamic._logits(texts[:1]), atol=1e-5)
    assert padded.predict(texts, batch_size=3).routes == dynamic.predict(texts).routes
