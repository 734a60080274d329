"""Epoch plans that keep to a wall-clock deadline, shared by the fine-tuning and distillation loops.

After each epoch the epochs still planned are checked against the epochs' measured pace; when they would run past
the deadline, fewer are planned and the learning rate decays linearly to zero over the steps that remain (a new
schedule that starts from the current rate), so a shortened run still ends its schedule.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


@dataclass
class EpochBudget:
    """``planned`` epochs to end by ``deadline`` (a ``time.perf_counter()`` value; None = no deadline)."""

    deadline: float | None
    planned: int
    epoch_seconds: list[float] = field(default_factory=list)

    def after_epoch(self, epoch: int, seconds: float) -> str | None:
        """Record epoch ``epoch``'s ``seconds``; when the rest of the plan would overrun the deadline at the mean
        pace so far, plan fewer epochs (``planned`` drops, possibly to ``epoch``: stop now) and return why."""
        self.epoch_seconds.append(seconds)
        if self.deadline is None or epoch >= self.planned:
            return None
        left = self.deadline - time.perf_counter()
        pace = sum(self.epoch_seconds) / len(self.epoch_seconds)
        more = max(0, math.floor(left / pace))
        if epoch + more >= self.planned:
            return None
        before, self.planned = self.planned, epoch + more
        return (
            f"re-planned after epoch {epoch}: {pace:.0f} s per epoch measured, {max(left, 0):.0f} s left "
            f"before the deadline ({before} planned)"
        )


def decay_to_zero(optimizer, steps: int):
    """A linear schedule from each parameter group's current learning rate to zero over ``steps`` steps."""
    from torch.optim.lr_scheduler import LambdaLR

    factors = [g["lr"] / g["initial_lr"] if g.get("initial_lr") else 0.0 for g in optimizer.param_groups]
    return LambdaLR(optimizer, [lambda s, f=f: f * max(0.0, 1 - s / max(1, steps)) for f in factors])
