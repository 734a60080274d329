"""Epoch plans under a deadline: shortened from the measured pace, with a learning rate that still ends at zero."""

import time

import pytest
import torch

from llm_router.utils.budget import EpochBudget, decay_to_zero


def test_no_deadline_never_replans():
    budget = EpochBudget(None, planned=5)
    assert all(budget.after_epoch(e, 100.0) is None for e in range(1, 5)) and budget.planned == 5


def test_the_plan_shrinks_to_the_epochs_that_still_fit():
    budget = EpochBudget(time.perf_counter() + 25.0, planned=8)
    assert budget.after_epoch(1, 10.0).startswith("re-planned after epoch 1: 10 s per epoch")
    assert budget.planned == 3  # 25 s left at 10 s per epoch: two more
    assert budget.after_epoch(2, 10.0) is None and budget.planned == 3  # still fits (left ~25 s, 1 more)


def test_a_spent_budget_stops_after_the_current_epoch():
    budget = EpochBudget(time.perf_counter() - 1.0, planned=4)
    assert budget.after_epoch(2, 5.0) is not None and budget.planned == 2
    assert (
        EpochBudget(time.perf_counter() - 1.0, planned=3).after_epoch(3, 5.0) is None
    )  # last epoch: nothing to cut


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
