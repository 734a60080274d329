"""Epoch plans that keep to a wall-clock deadline, shared by the fine-tuning and distillation loops.

After each epoch the epochs still planned are checked against the epochs' measured pace (the median epoch so far,
so that one epoch slowed by another process does not set it); when they would run past the deadline, fewer are
planned, and when a plan cut earlier fits again, epochs are given back up to the first plan. Either way the
learning rate decays linearly to zero over the steps that remain (a new schedule that starts from the current
rate), so the run still ends its schedule.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class EpochBudget:
    """``planned`` epochs to end by ``deadline`` (a ``clock()`` value, ``time.perf_counter`` by default; None = no
    deadline). The first plan is also the most it plans later."""

    deadline: float | None
    planned: int
    epoch_seconds: list[float] = field(default_factory=list)
    clock: Callable[[], float] = time.perf_counter
    first_plan: int = field(init=False)  # ``planned`` as given: the most epochs a later re-plan gives back

    def __post_init__(self) -> None:
        self.first_plan = self.planned

    def after_epoch(self, epoch: int, seconds: float) -> str | None:
        """Record epoch ``epoch``'s ``seconds``; plan the epochs that fit before the deadline at the median pace so
        far, at most the first plan (``planned`` drops, possibly to ``epoch``: stop now, or rises back towards the
        first plan) and return why, or None when the plan stands. Nothing changes after the last planned epoch:
        its learning rate has reached zero."""
        self.epoch_seconds.append(seconds)
        if self.deadline is None or epoch >= self.planned:
            return None
        left = self.deadline - self.clock()
        pace = statistics.median(self.epoch_seconds)
        fits = epoch + max(0, math.floor(left / pace))
        plan = min(fits, self.first_plan)
        if plan == self.planned:
            return None
        before, self.planned = self.planned, plan
        return (
            f"re-planned after epoch {epoch}: {pace:.0f} s per epoch (median), {max(left, 0):.0f} s left "
            f"before the deadline: {plan} epochs ({before} planned)"
        )


def decay_to_zero(optimizer, steps: int):
    """A linear schedule from each parameter group's current learning rate to zero over ``steps`` steps."""
    from torch.optim.lr_scheduler import LambdaLR

    factors = [g["lr"] / g["initial_lr"] if g.get("initial_lr") else 0.0 for g in optimizer.param_groups]
    return LambdaLR(optimizer, [lambda s, f=f: f * max(0.0, 1 - s / max(1, steps)) for f in factors])
