"""The recipe chosen from the data: encoder by script, class weights by imbalance, max_length by token lengths,
epochs by a measured time budget - each with its reason in train_config.json."""

import time

import pandas as pd
import pytest

from llm_router.train.config import TrainConfig
from llm_router.train.recipe import (
    ENGLISH_MODEL,
    MULTILINGUAL_MODEL,
    choose_class_weights,
    choose_encoder,
    epochs_within_budget,
    layers_within_budget,
    resolve_recipe,
)
from llm_router.utils import read_json


def test_encoder_follows_the_scripts():
    assert choose_encoder(["write a poem", "fix my code", "1 + 1 = ?"]).value == ENGLISH_MODEL
    korean = choose_encoder(["시를 써 줘", "write a poem", "コードを直して"])
    assert korean.value == MULTILINGUAL_MODEL and "Latin" in korean.reason


def test_class_weights_follow_the_imbalance():
    assert choose_class_weights(["a"] * 10 + ["b"] * 9).value == "none"
    choice = choose_class_weights(["a"] * 30 + ["b"] * 10)
    assert choice.value == "balanced" and "3.0x" in choice.reason


def test_explicit_fields_are_left_alone(tiny_bert_dir):
    config = TrainConfig(model=str(tiny_bert_dir), class_weights="sqrt", max_length=40)
    df = pd.DataFrame({"text": ["hello there", "write a poem"], "label": ["a", "b"]})
    resolved, choices = resolve_recipe(config, df)
    assert resolved == config and choices == []


def test_auto_fields_are_decided_from_the_training_split(tiny_bert_dir, toy_df):
    config = TrainConfig(model=str(tiny_bert_dir))
    resolved, choices = resolve_recipe(config, toy_df)
    assert [c.field for c in choices] == ["class_weights", "max_length"]
    assert resolved.class_weights == "balanced"  # the toy frame is skewed 20 / 15 / 6
    assert resolved.max_length % 8 == 0 and 16 <= resolved.max_length <= 256


def test_epochs_within_budget():
    config = TrainConfig(epochs=8, time_budget_s=100)
    assert epochs_within_budget(config, 100, epoch_seconds=1.0) is None
    choice = epochs_within_budget(config, 100, epoch_seconds=40.0)
    assert choice.value == 2 and "time budget 100" in choice.reason
    assert epochs_within_budget(config, 1, 40.0).value == 1  # always at least one epoch


def _cost(**kw):
    from llm_router.train.finetune import TrainingCost

    base = dict(
        step_s_per_slot=1e-3,
        layers=6,
        total_layers=12,
        epoch_slots=60_000,
        val_tokens=6_000,
        train_tokens=50_000,
        after_tokens=10_000,
        head_warmup=True,
    )
    return TrainingCost(**{**base, **kw})


def test_training_cost_scales_with_layers_and_tokens():
    cost = _cost()
    assert cost.epoch_s(6) == pytest.approx(
        60 + 2
    )  # 60k slots at 1 ms, validation a third of a step per token
    assert cost.epoch_s(3) == pytest.approx(cost.epoch_s(6) / 2)
    assert cost.after_s == pytest.approx(10_000 * 1e-3 / 18 * 12)  # the whole encoder, forward only
    assert cost.fixed_s(6) == pytest.approx(50_000 * 1e-3 / 3) and _cost(head_warmup=False).fixed_s(6) == 0
    assert cost.epochs_that_fit(62 * 4 + cost.fixed_s(6), 6) == 4


def test_layers_within_budget_keeps_the_most_layers_that_fit_the_epochs():
    config = TrainConfig(epochs=8, time_budget_s=150)
    cost = _cost(head_warmup=False)
    assert cost.epochs_that_fit(150, 6) == 2  # 62 s per epoch with 6 layers
    choice = layers_within_budget(config, cost, 150, layers=6, want=3)
    assert choice.field == "trainable_layers" and choice.value == 4  # 5 layers: 2 epochs; 4 layers: 3
    assert "2 epochs would fit, under 3" in choice.reason
    assert layers_within_budget(config, cost, 1, layers=6, want=3).value == 1  # nothing fits: one layer


def test_epoch_slots_counts_padding_of_random_batches():
    from llm_router.train.finetune import epoch_slots

    assert epoch_slots([5] * 10, 4, seed=0) == 50  # equal lengths: no padding
    assert epoch_slots([1, 9], 2, seed=0) == 18  # one batch padded to 9
    assert epoch_slots([1, 2, 3, 10], 1, seed=0) == 16


def test_a_tight_time_budget_trims_layers_and_epochs_and_says_why(tiny_bert_dir, toy_df, tmp_path):
    from llm_router.train.fit import train

    config = TrainConfig(model=str(tiny_bert_dir), epochs=50, head_warmup_epochs=0, time_budget_s=1e-3)
    result = train(toy_df, config, tmp_path / "m", progress=False)
    assert result.config.epochs == 1
    saved = read_json(tmp_path / "m" / "train_config.json")
    assert saved["epochs"] == 1 and saved["model"] == str(tiny_bert_dir)
    assert (
        saved["trainable_layers"] == 1
    )  # the tiny model has 2: fewer than 3 epochs fit, so one layer trains
    fields = [c["field"] for c in saved["extra"]["recipe"]]
    assert {"epochs", "trainable_layers", "max_length"} <= set(fields)
    assert read_json(tmp_path / "m" / "router.json")["max_length"] == saved["max_length"]


def test_the_budget_probe_leaves_the_run_unchanged(tiny_bert_dir, toy_df):
    """The probe trains in training mode (dropout draws random numbers) but restores the random state and
    discards its gradients: a budget that fits gives the same run as no budget."""
    from llm_router.train.fit import fit
    from llm_router.train.targets import prepare_targets

    runs = []
    for budget in (0, 1e6):
        config = TrainConfig(model=str(tiny_bert_dir), epochs=2, head_warmup_epochs=1, time_budget_s=budget)
        df, targets = prepare_targets(toy_df, config)
        runs.append(fit(df, df.iloc[:6], config, targets))
    assert [h["train_loss"] for h in runs[0].history] == [h["train_loss"] for h in runs[1].history]
    assert runs[1].config.epochs == 2 and not [c for c in runs[1].recipe if c.field == "epochs"]


def test_the_plan_is_shortened_when_the_epochs_run_slower_than_estimated(tiny_bert_dir, toy_df, monkeypatch):
    """The estimate said everything fits; the first epoch's measured time says the budget is spent: the run stops
    after it, says why, and the learning rate was left to decay rather than cut mid-schedule silently."""
    from llm_router.train import finetune
    from llm_router.train.fit import fit
    from llm_router.train.targets import prepare_targets

    free = _cost(step_s_per_slot=1e-12)
    monkeypatch.setattr(finetune._FinetuneRun, "measure_cost", lambda self, predict_after: free)
    real_epoch = finetune._FinetuneRun._epoch

    def slow_epoch(self, *args):
        time.sleep(2.0)
        return real_epoch(self, *args)

    monkeypatch.setattr(finetune._FinetuneRun, "_epoch", slow_epoch)
    config = TrainConfig(model=str(tiny_bert_dir), epochs=5, head_warmup_epochs=0, time_budget_s=5)
    df, targets = prepare_targets(toy_df, config)
    fitted = fit(df, df.iloc[:6], config, targets)
    assert fitted.config.epochs in (1, 2) and len(fitted.history) == fitted.config.epochs  # 2 s epochs in 5 s
    replans = [c for c in fitted.recipe if c.field == "epochs"]
    assert len(replans) == 1 and replans[0].reason.startswith("time budget: re-planned after epoch 1")


def test_bad_budget_is_a_one_line_error():
    from llm_router.errors import RouterError

    with pytest.raises(RouterError, match="time budget"):
        TrainConfig(time_budget_s=-1)
    assert TrainConfig(time_budget_s=0).time_budget_s == 0  # 0 = no budget
