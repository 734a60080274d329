"""benchmarks/route_offsets.py: the per-route offsets it fits on validation."""

import numpy as np
from scipy.special import log_softmax

from benchmark_scripts import load_benchmark


def test_an_offset_recovers_a_minority_route_the_model_ranks_second():
    mod = load_benchmark("route_offsets")
    # route 2 is always the model's second choice, but the gold route of the last four rows
    logits = np.array([[2.0, 0.0, 1.0]] * 8 + [[2.0, 0.0, 1.5]] * 4)
    gold = np.array([0] * 8 + [2] * 4)
    grid = np.round(np.arange(-2.0, 2.01, 0.1), 6)
    offsets = mod.fit_offsets(log_softmax(logits, axis=1), gold, grid)
    assert offsets[0] == 0.0
    predicted = (log_softmax(logits, axis=1) + offsets).argmax(axis=1)
    assert (predicted == gold).all()
    assert 0.5 < offsets[2] <= 1.0  # past the last rows' gap (0.5), within the first rows' (1.0)


def test_a_model_already_right_keeps_zero_offsets():
    mod = load_benchmark("route_offsets")
    logits = np.eye(3)[[0, 1, 2, 0, 1, 2]] * 3.0
    gold = np.array([0, 1, 2, 0, 1, 2])
    offsets = mod.fit_offsets(log_softmax(logits, axis=1), gold, np.round(np.arange(-1.0, 1.01, 0.5), 6))
    assert offsets.tolist() == [0.0, 0.0, 0.0]
