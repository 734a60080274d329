"""The recipe chosen from the data: encoder by script, class weights by imbalance, max_length by token lengths,
epochs by a measured time budget - each with its reason in train_config.json."""

import pandas as pd
import pytest

from llm_router.train.config import TrainConfig
from llm_router.train.recipe import (
    ENGLISH_MODEL,
    MULTILINGUAL_MODEL,
    choose_class_weights,
    choose_encoder,
    epochs_within_budget,
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
    assert epochs_within_budget(config, 100, steps_per_epoch=10, seconds_per_step=0.1, val_seconds=0) is None
    choice = epochs_within_budget(config, 100, steps_per_epoch=10, seconds_per_step=3.0, val_seconds=10)
    assert choice.value == 2 and "time budget 100" in choice.reason  # 40 s per epoch
    assert epochs_within_budget(config, 1, 10, 3.0, 10).value == 1  # always at least one epoch


def test_a_tight_time_budget_trims_epochs_and_says_why(tiny_bert_dir, toy_df, tmp_path):
    from llm_router.train.fit import train

    config = TrainConfig(model=str(tiny_bert_dir), epochs=50, head_warmup_epochs=0, time_budget_s=1e-3)
    result = train(toy_df, config, tmp_path / "m", progress=False)
    assert result.config.epochs == 1
    saved = read_json(tmp_path / "m" / "train_config.json")
    assert saved["epochs"] == 1 and saved["model"] == str(tiny_bert_dir)
    fields = [c["field"] for c in saved["extra"]["recipe"]]
    assert "epochs" in fields and "max_length" in fields
    assert read_json(tmp_path / "m" / "router.json")["max_length"] == saved["max_length"]


def test_bad_budget_is_a_one_line_error():
    from llm_router.errors import RouterError

    with pytest.raises(RouterError, match="time budget"):
        TrainConfig(time_budget_s=-1)
    assert TrainConfig(time_budget_s=0).time_budget_s == 0  # 0 = no budget
