"""max_length from token lengths, and what truncation costs (hand-computed cases)."""

import pytest

from llm_router.data.lengths import choose_max_length, truncation_cost


def test_truncation_cost_counts_texts_and_tokens():
    cost = truncation_cost([10, 20, 30, 40], 25)
    assert cost == {
        "max_length": 25,
        "texts_cut": 2,
        "share_cut": 0.5,
        "tokens_lost": 5 + 15,
        "share_tokens_lost": round(20 / 100, 4),
    }
    assert truncation_cost([], 8)["share_cut"] == 0.0


def test_choice_is_a_rounded_percentile_between_floor_and_cap():
    lengths = list(range(1, 101))  # p99 = 99.01 -> next multiple of 8 = 104
    choice = choose_max_length(lengths, percentile=99, cap=256)
    assert choice.max_length == 104 and choice.share_cut == 0.0
    assert "p99" in choice.reason and "104" in choice.reason
    assert choose_max_length([3, 4, 5], floor=16).max_length == 16
    capped = choose_max_length([1000] * 10, cap=256)
    assert capped.max_length == 256 and capped.share_cut == 1.0 and "capped" in capped.reason
    assert choose_max_length([1000] * 10, cap=256, max_positions=128).max_length == 128


@pytest.mark.parametrize("percentile", [50, 90, 99])
def test_at_most_the_share_above_the_percentile_is_cut(percentile):
    lengths = [(i * 37) % 211 + 1 for i in range(1000)]
    choice = choose_max_length(lengths, percentile=percentile, cap=10_000)
    assert choice.share_cut <= 1 - percentile / 100 + 1e-9
