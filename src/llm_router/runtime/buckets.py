"""Static shapes for the GPU path: round a batch up to a (batch, sequence) bucket so that each bucket is captured
once (CUDA graph or ``torch.compile(mode="reduce-overhead")``) and then replayed. Pure numpy, so it is tested on CPU.

Padding rows hold pad ids with only their first position attended (so no attention row is fully masked); their
outputs are dropped. Padding columns carry ``attention_mask`` 0, which
leaves the real rows' logits unchanged (up to float rounding).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def seq_buckets_for(max_length: int, smallest: int = 16) -> tuple[int, ...]:
    """Powers of two from ``smallest`` up to ``max_length`` (always included): 16, 32, 64, ..., max_length."""
    buckets = []
    size = smallest
    while size < max_length:
        buckets.append(size)
        size *= 2
    buckets.append(int(max_length))
    return tuple(buckets)


def batch_buckets_for(max_batch: int) -> tuple[int, ...]:
    """1, 2, 4, ... up to ``max_batch`` (always included)."""
    buckets = []
    size = 1
    while size < max_batch:
        buckets.append(size)
        size *= 2
    buckets.append(int(max_batch))
    return tuple(buckets)


def pick_bucket(n: int, buckets: Sequence[int]) -> int:
    """The smallest bucket >= n."""
    for size in buckets:
        if size >= n:
            return size
    raise ValueError(f"{n} is larger than the largest bucket ({buckets[-1]})")


def pad_to_bucket(
    features: dict[str, np.ndarray], batch: int, seq: int, pad_id: int = 0
) -> dict[str, np.ndarray]:
    """Pad ``[n, s]`` int arrays to ``[batch, seq]`` (``batch >= n``, ``seq >= s``)."""
    n, s = features["input_ids"].shape
    if n > batch or s > seq:
        raise ValueError(f"cannot pad shape {(n, s)} down to {(batch, seq)}")
    if (n, s) == (batch, seq):
        return features
    out = {}
    for name, array in features.items():
        fill = pad_id if name == "input_ids" else 0
        padded = np.full((batch, seq), fill, dtype=array.dtype)
        padded[:n, :s] = array
        if name == "attention_mask" and batch > n:
            padded[n:, 0] = 1
        out[name] = padded
    return out


class BucketPlan:
    """Which static shape each batch runs at."""

    def __init__(
        self,
        max_length: int,
        max_batch: int,
        seq_buckets: Sequence[int] | None = None,
        batch_buckets: Sequence[int] | None = None,
    ):
        self.seq_buckets = tuple(sorted(seq_buckets)) if seq_buckets else seq_buckets_for(max_length)
        self.batch_buckets = tuple(sorted(batch_buckets)) if batch_buckets else batch_buckets_for(max_batch)
        self.max_batch = self.batch_buckets[-1]

    def shape_for(self, n: int, s: int) -> tuple[int, int]:
        return pick_bucket(n, self.batch_buckets), pick_bucket(s, self.seq_buckets)

    def all_shapes(self) -> list[tuple[int, int]]:
        return [(b, s) for b in self.batch_buckets for s in self.seq_buckets]

    def pad(self, features: dict[str, np.ndarray], pad_id: int = 0) -> dict[str, np.ndarray]:
        n, s = features["input_ids"].shape
        return pad_to_bucket(features, *self.shape_for(n, s), pad_id=pad_id)
