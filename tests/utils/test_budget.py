"""Epoch plans under a deadline: shortened from the measured pace, with a learning rate that still ends at zero."""

import pytest
import torch

from llm_router.utils.budget import EpochBudget, decay_to_zero


def test_no_deadline_never_replans():
    budget = EpochBudget(None, planned=5)
    assert all(budget.after_epoch(e, 100.0) is None for e in range(1, 5)) and budget.planned == 5


class FakeClock:
    """Seconds that pass only when an epoch says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def epoch(self, budget: EpochBudget, epoch: int, seconds: float) -> str | None:
        self.now += seconds
        return budget.after_epoch(epoch, seconds)


def test_the_plan_shrinks_to_the_epochs_that_still_fit():
    clock = FakeClock()
    budget = EpochBudget(35.0, planned=8, clock=clock)
    reason = clock.epoch(budget, 1, 10.0)
    assert reason.startswith("re-planned after epoch 1: 10 s per epoch (median), 25 s left")
    assert budget.planned == 3  # 25 s left at 10 s per epoch: two more
    assert clock.epoch(budget, 2, 10.0) is None and budget.planned == 3  # 15 s left, one more: still fits


def test_one_slow_epoch_does_not_keep_the_plan_cut():
    """Another process slows the first epoch; once the pace recovers the epochs come back, never past the first
    plan (the case of a RouterBench teacher: 6 planned, cut to 4 after a slow first epoch)."""
    clock = FakeClock()
    budget = EpochBudget(100.0, planned=6, clock=clock)
    assert clock.epoch(budget, 1, 30.0) is not None and budget.planned == 3  # 70 s left at 30 s: two more
    assert clock.epoch(budget, 2, 10.0) is not None and budget.planned == 5  # median 20 s, 60 s left: three
    assert clock.epoch(budget, 3, 10.0) is not None and budget.planned == 6  # median 10 s, 50 s left: capped
    for epoch in (4, 5, 6):
        assert clock.epoch(budget, epoch, 10.0) is None
    assert clock.now <= 100.0 and budget.planned == 6


def test_the_plan_never_grows_past_the_first_plan():
    clock = FakeClock()
    budget = EpochBudget(1000.0, planned=3, clock=clock)
    assert all(clock.epoch(budget, e, 1.0) is None for e in (1, 2, 3)) and budget.planned == 3


def test_a_spent_budget_stops_after_the_current_epoch():
    clock = FakeClock()
    budget = EpochBudget(-1.0, planned=4, clock=clock)
    assert clock.epoch(budget, 2, 5.0) is not None and budget.planned == 2
    # the last epoch: nothing to cut (and its learning rate has already reached zero)
    assert EpochBudget(-1.0, planned=3, clock=clock).after_epoch(3, 5.0) is None


def test_decay_to_zero_continues_from_the_current_rate():

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    first = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / 10)
    for _ in range(4):
        opt.step()
        first.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.6)
    second = decay_to_zero(opt, steps=3)
    rates = [opt.param_groups[0]["lr"]]
    for _ in range(3):
        opt.step()
        second.step()
        rates.append(opt.param_groups[0]["lr"])
    assert rates == pytest.approx([0.6, 0.4, 0.2, 0.0])
