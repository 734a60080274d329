"""Token lengths decide ``max_length``: truncate where the data says, and say what truncation costs.

The model profiles carry one ``max_length`` per encoder (64 for e5, tuned on short Korean queries). Prompts of
another data set can be ten times longer; cutting them at 64 tokens throws away what a router would need. Here
``max_length`` is a high percentile of the training texts' token lengths (their text prefix and special tokens
included), rounded up to a multiple of 8, inside ``[floor, cap]`` and the model's position limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PERCENTILE = 99.0  # of the training texts' token lengths
CAP = 256  # longest max_length chosen from data (attention cost grows with the square of the length)
FLOOR = 16
MULTIPLE = 8


@dataclass(frozen=True)
class LengthChoice:
    """The chosen ``max_length`` and why."""

    max_length: int
    percentile: float
    percentile_tokens: float
    cap: int
    share_cut: float  # share of the texts that max_length truncates

    @property
    def reason(self) -> str:
        capped = " (capped)" if self.percentile_tokens > self.cap else ""
        return (
            f"p{self.percentile:g} of the training texts' token lengths is {self.percentile_tokens:.0f}: "
            f"max_length {self.max_length}{capped} cuts {self.share_cut:.1%} of them"
        )


def choose_max_length(
    lengths: Sequence[int],
    percentile: float = PERCENTILE,
    cap: int = CAP,
    floor: int = FLOOR,
    max_positions: int | None = None,
) -> LengthChoice:
    """``max_length`` for texts of these token lengths (see the module docstring)."""
    arr = np.asarray(lengths, dtype=float)
    if max_positions:
        cap = min(cap, max_positions)
    tokens = float(np.percentile(arr, percentile)) if arr.size else float(floor)
    chosen = int(min(cap, max(floor, MULTIPLE * math.ceil(tokens / MULTIPLE))))
    return LengthChoice(chosen, percentile, tokens, cap, truncation_cost(lengths, chosen)["share_cut"])


def truncation_cost(lengths: Sequence[int], max_length: int) -> dict:
    """What cutting every text at ``max_length`` tokens loses: texts cut and tokens dropped (counts and shares)."""
    arr = np.asarray(lengths, dtype=np.int64)
    lost = np.clip(arr - max_length, 0, None)
    total = int(arr.sum())
    return {
        "max_length": int(max_length),
        "texts_cut": int((lost > 0).sum()),
        "share_cut": round(float((lost > 0).mean()), 4) if arr.size else 0.0,
        "tokens_lost": int(lost.sum()),
        "share_tokens_lost": round(int(lost.sum()) / total, 4) if total else 0.0,
    }


def token_lengths(tokenizer, texts: Sequence[str], text_prefix: str = "") -> list[int]:
    """Token counts of ``texts`` as the model sees them: prefix and special tokens included, nothing truncated."""
    # verbose=False: counting a text longer than the model's limit is the point here, not a mistake to warn about
    texts = [text_prefix + str(t) for t in texts]
    enc = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)
    return [len(ids) for ids in enc["input_ids"]]
