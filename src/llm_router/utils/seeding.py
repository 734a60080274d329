"""Seeding and torch threads: the one place a run fixes its randomness and its CPU threads."""

from __future__ import annotations

import os
import random

import numpy as np


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, numpy's global generator and torch."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_threads(threads: int | None) -> int:
    """Use ``threads`` torch threads (``None``: at most 2, the cores of the machine this was tuned on); returns
    the number set."""
    import torch

    n = threads or min(2, os.cpu_count() or 1)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
