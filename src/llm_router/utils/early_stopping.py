"""Best-epoch bookkeeping shared by the teacher's and the student's training loops."""

from __future__ import annotations


class EarlyStopping:
    """The best validation score so far (a gain under 1e-9 does not count) and its epoch, and whether
    ``patience`` epochs in a row brought no gain (``patience`` 0: never stop)."""

    def __init__(self, patience: int, best_epoch: int = 0):
        self.patience = patience
        self.best = -1.0
        self.best_epoch = best_epoch
        self.stale = 0

    def update(self, score: float, epoch: int) -> bool:
        """Record ``epoch``'s score; True when it is the new best."""
        if score > self.best + 1e-9:
            self.best, self.best_epoch, self.stale = score, epoch, 0
            return True
        self.stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        return bool(self.patience) and self.stale >= self.patience
