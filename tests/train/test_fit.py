"""`router train` / `router cv` on tiny random-initialised models (no download)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from llm_router.errors import RouterError
from llm_router.train.config import TrainConfig, config_from_options
from llm_router.train.cv import cross_validate
from llm_router.train.fit import fit, train
from llm_router.train.layer_cache import compute_bottom_states, pad_batch, pad_states, top_layers_only
from llm_router.train.targets import derive_route_map, prepare_targets
from llm_router.utils import read_json, text_hash
from llm_router.utils.layers import num_layers

FAST = {"epochs": 2, "learning_rate": 1e-3, "batch_size": 16}


def tiny_config(model_dir, **kw) -> TrainConfig:
    return TrainConfig(model=str(model_dir), **{**FAST, **kw})


# ----------------------------------------------------------------------------------------------- artefacts
def test_train_writes_the_documented_folder(tiny_bert_dir, toy_df, tmp_path):
    out = tmp_path / "model"
    result = train(toy_df, tiny_config(tiny_bert_dir), out, progress=False)
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "router.json",
        "split.json",
        "train_config.json",
        "metrics.json",
        "history.json",
        "training_curves.png",
        "confusion_matrix.png",
    ):
        assert (out / name).is_file(), name
    router = read_json(out / "router.json")
    assert router["format"] == "llm-router/1" and router["kind"] == "hf"
    assert router["labels"] == router["routes"] == sorted(toy_df["label"].unique())
    assert router["route_map"] is None and router["created_by"] == "router train"
    assert router["data"]["path"] == toy_df.attrs["source"]
    config_json = read_json(out / "config.json")
    assert [config_json["id2label"][str(i)] for i in range(3)] == router["labels"]

    split = read_json(out / "split.json")
    parts = {k: set(split[k]) for k in ("train", "val", "test")}
    assert not parts["train"] & parts["test"] and not parts["val"] & parts["test"]
    assert sum(len(p) for p in parts.values()) == toy_df["text"].map(text_hash).nunique()

    metrics = read_json(out / "metrics.json")
    assert metrics["n"] == len(parts["test"]) == result.split_sizes["test"]
    for key in (
        "accuracy",
        "macro_f1",
        "weighted_f1",
        "macro_f1_ci95",
        "per_class",
        "confusion_matrix",
        "labels",
    ):
        assert key in metrics
    history = read_json(out / "history.json")
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(h["train_loss"] > 0 and h["val_macro_f1"] is not None for h in history)
    assert TrainConfig.from_json(out / "train_config.json") == result.config
    assert not list(tmp_path.glob(".model.tmp-*"))  # written atomically


def separable_frame(per_class: int = 15, seed: int = 0) -> pd.DataFrame:
    """Three routes told apart by their script: a task the tiny model must learn within a few epochs."""
    import random

    rng = random.Random(seed)
    rows = [
        ("".join(rng.choice(chars) for _ in range(rng.randint(3, 8))), label)
        for label, chars in [("Claude", "가나다라"), ("gemini-mini", "abcd"), ("gpt-o1", "あいうえ")]
        for _ in range(per_class)
    ]
    return pd.DataFrame(rows, columns=["text", "label"]).drop_duplicates("text").reset_index(drop=True)


def test_training_learns_a_separable_task(tiny_bert_dir, tmp_path):
    cfg = tiny_config(tiny_bert_dir, epochs=10, learning_rate=1e-2, dropout=0.0, freeze_embeddings=False)
    result = train(separable_frame(), cfg, tmp_path / "m", progress=False)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.8 * losses[0]
    assert max(h["val_macro_f1"] for h in result.history) > 0.5


def test_modernbert_code_path(tiny_modernbert_dir, toy_df, tmp_path):
    out = tmp_path / "mb"
    result = train(toy_df, tiny_config(tiny_modernbert_dir, dropout=0.0), out, progress=False)
    assert read_json(out / "config.json")["model_type"] == "modernbert"
    assert read_json(out / "router.json")["labels"] == result.targets.labels
    from llm_router.runtime import Predictor

    pred = Predictor.load(out).predict(["hello there", "fix my python code"])
    assert pred.route_probs.shape == (2, 3) and np.allclose(pred.route_probs.sum(1), 1, atol=1e-5)


def test_dropout_option_reaches_every_dropout_attribute(tiny_bert_dir, toy_df, tmp_path):
    out = tmp_path / "d"
    train(toy_df, tiny_config(tiny_bert_dir, dropout=0.25, epochs=1), out, progress=False)
    cfg = read_json(out / "config.json")
    assert cfg["hidden_dropout_prob"] == cfg["attention_probs_dropout_prob"] == 0.25


def test_same_seed_same_model(tiny_bert_dir, toy_df, tmp_path):
    a = train(
        toy_df, tiny_config(tiny_bert_dir, augment="typo:1", oversample=1.0), tmp_path / "a", progress=False
    )
    b = train(
        toy_df, tiny_config(tiny_bert_dir, augment="typo:1", oversample=1.0), tmp_path / "b", progress=False
    )
    assert [h["train_loss"] for h in a.history] == pytest.approx([h["train_loss"] for h in b.history])
    assert read_json(tmp_path / "a" / "split.json") == read_json(tmp_path / "b" / "split.json")


# ---------------------------------------------------------------------------------- imbalance / augmentation
def test_oversampling_and_augmentation_only_grow_the_training_split(tiny_bert_dir, toy_df, tmp_path):
    plain = train(toy_df, tiny_config(tiny_bert_dir, epochs=1), tmp_path / "p", progress=False)
    more = train(
        toy_df,
        tiny_config(tiny_bert_dir, epochs=1, oversample=1.0, augment="typo:1,spacing:1"),
        tmp_path / "o",
        progress=False,
    )
    assert plain.split_sizes["train_rows_used"] == plain.split_sizes["train"]
    assert more.split_sizes["train_rows_used"] > more.split_sizes["train"]
    assert more.split_sizes["test"] == plain.split_sizes["test"]  # evaluation rows untouched
    assert (
        read_json(tmp_path / "p" / "split.json")["test"] == read_json(tmp_path / "o" / "split.json")["test"]
    )


def test_augmentation_never_sees_validation_or_test_rows(tiny_bert_dir, toy_df, tmp_path, monkeypatch):
    import llm_router.data.augment as augment

    seen = []
    real = augment.augment_dataframe

    def spy(df, spec, **kw):
        seen.append((set(df["text"]), set(kw.get("exclude_texts", ()))))
        return real(df, spec, **kw)

    monkeypatch.setattr(augment, "augment_dataframe", spy)
    train(toy_df, tiny_config(tiny_bert_dir, epochs=1, augment="typo:1"), tmp_path / "m", progress=False)
    split = read_json(tmp_path / "m" / "split.json")
    augmented_texts, excluded = seen[0]
    held_out = set(split["val"]) | set(split["test"])
    assert {text_hash(t) for t in augmented_texts} == set(split["train"])
    assert {text_hash(t) for t in excluded} == held_out


# ------------------------------------------------------------------------------------------------ route maps
def test_intent_training_with_auto_route_map(tiny_bert_dir, toy_df, tmp_path):
    out = tmp_path / "intent"
    cfg = tiny_config(tiny_bert_dir, train_label_col="intent", route_map="auto")
    result = train(toy_df, cfg, out, progress=False)
    router = read_json(out / "router.json")
    assert router["labels"] == sorted(toy_df["intent"].unique())
    assert router["routes"] == sorted(toy_df["label"].unique())
    expected, conflicts = derive_route_map(toy_df, "intent")
    assert router["route_map"] == expected and not conflicts  # demo intents map to exactly one route
    assert set(result.metrics["labels"]) == set(router["routes"])  # metrics are route-level

    from llm_router.runtime import Predictor

    pred = Predictor.load(out).predict(["write a poem about rain"])
    assert pred.labels[0] in router["labels"]
    for j, route in enumerate(router["routes"]):  # a route's probability is the sum of its labels'
        members = [i for i, label in enumerate(router["labels"]) if router["route_map"][label] == route]
        assert pred.route_probs[0, j] == pytest.approx(pred.label_probs[0, members].sum(), abs=1e-5)
    assert pred.routes[0] == router["routes"][int(pred.route_probs[0].argmax())]


def test_route_map_file_and_errors(tiny_bert_dir, toy_df, tmp_path):
    mapping, _ = derive_route_map(toy_df, "intent")
    path = tmp_path / "map.json"
    path.write_text(json.dumps(mapping))
    df, targets = prepare_targets(
        toy_df, tiny_config(tiny_bert_dir, train_label_col="intent", route_map=str(path))
    )
    assert targets.route_map == mapping and set(df["target"]) == set(mapping)

    broken = dict(mapping)
    broken.pop(sorted(broken)[0])
    path.write_text(json.dumps(broken))
    with pytest.raises(RouterError, match="no route for"):
        prepare_targets(toy_df, tiny_config(tiny_bert_dir, train_label_col="intent", route_map=str(path)))
    with pytest.raises(RouterError, match="needs --route-map"):
        TrainConfig(train_label_col="intent")
    with pytest.raises(RouterError, match="no column"):
        prepare_targets(toy_df, tiny_config(tiny_bert_dir, train_label_col="nope", route_map="auto"))


def test_auto_route_map_reports_conflicts():
    df = pd.DataFrame(
        {"text": list("abcde"), "label": ["x", "x", "y", "y", "y"], "intent": ["i", "i", "i", "j", "j"]}
    )
    mapping, conflicts = derive_route_map(df, "intent")
    assert mapping == {"i": "x", "j": "y"}
    assert conflicts == {"i": {"x": 2, "y": 1}}


# ------------------------------------------------------------------------------------------ frozen layers
@pytest.mark.parametrize("fixture", ["tiny_bert_dir", "tiny_modernbert_dir"])
def test_cached_bottom_layers_give_the_same_logits(fixture, request, tiny_tokenizer):
    from transformers import AutoModelForSequenceClassification

    from llm_router.train.finetune import _tokenize, model_inputs

    model = AutoModelForSequenceClassification.from_pretrained(
        request.getfixturevalue(fixture), num_labels=3
    ).eval()
    feats = _tokenize(
        tiny_tokenizer,
        ["hello", "write me a long story please", "코드 고쳐줘"],
        "",
        32,
        keep=model_inputs(model),
    )
    batch = pad_batch(feats, tiny_tokenizer.pad_token_id)
    with torch.no_grad():
        full = model(**batch).logits
        for k in range(num_layers(model) + 1):
            states = compute_bottom_states(model, feats, k, tiny_tokenizer.pad_token_id)
            with top_layers_only(model, k) as stub:
                stub.states = pad_states(states, batch["input_ids"].shape[1])
                part = model(**batch).logits
            assert torch.allclose(full, part, atol=1e-5), k
    assert num_layers(model) == 2 and len(model.base_model.state_dict()) > 0  # restored after the block


@pytest.mark.parametrize("fixture", ["tiny_bert_dir", "tiny_modernbert_dir"])
def test_advancing_cached_states_equals_computing_them_deeper(fixture, request, tiny_tokenizer):
    """LP-FT and the time budget's layer trim carry the cache upwards instead of recomputing the bottom."""
    from transformers import AutoModelForSequenceClassification

    from llm_router.train.finetune import _tokenize, model_inputs
    from llm_router.train.layer_cache import advance_states

    model = AutoModelForSequenceClassification.from_pretrained(
        request.getfixturevalue(fixture), num_labels=3
    ).eval()
    feats = _tokenize(tiny_tokenizer, ["hi", "a much longer text to route"], "", 32, keep=model_inputs(model))
    pad = tiny_tokenizer.pad_token_id
    n = num_layers(model)
    for start, stop in [(0, 1), (1, None), (0, None)]:
        advanced = advance_states(
            model, feats, compute_bottom_states(model, feats, start, pad), start, stop, pad
        )
        direct = compute_bottom_states(model, feats, n if stop is None else stop, pad)
        for a, b in zip(advanced, direct, strict=True):
            assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5), (start, stop)


def test_trainable_layers_freezes_the_bottom(tiny_bert_dir, toy_df, tmp_path):
    from transformers import AutoModel

    cfg = tiny_config(tiny_bert_dir, trainable_layers=1, epochs=2)
    train(toy_df, cfg, tmp_path / "top1", progress=False)
    before = AutoModel.from_pretrained(tiny_bert_dir).state_dict()
    after = AutoModel.from_pretrained(tmp_path / "top1").state_dict()
    assert torch.equal(
        before["encoder.layer.0.attention.self.query.weight"],
        after["encoder.layer.0.attention.self.query.weight"],
    )
    assert not torch.equal(
        before["encoder.layer.1.attention.self.query.weight"],
        after["encoder.layer.1.attention.self.query.weight"],
    )


def test_freeze_embeddings(tiny_bert_dir, toy_df, tmp_path):
    from transformers import AutoModel

    train(toy_df, tiny_config(tiny_bert_dir, epochs=1), tmp_path / "f", progress=False)
    before = AutoModel.from_pretrained(tiny_bert_dir).embeddings.word_embeddings.weight
    after = AutoModel.from_pretrained(tmp_path / "f").embeddings.word_embeddings.weight
    assert torch.equal(before, after)


# ------------------------------------------------------------------------------------------ early stopping
def test_early_stopping_keeps_best_epoch(tiny_bert_dir, toy_df):
    from llm_router.data import split_dataset

    cfg = tiny_config(
        tiny_bert_dir,
        epochs=8,
        learning_rate=0.3,
        optimizer="sgd",
        early_stopping_patience=1,
        warmup_ratio=0.0,
    )
    df, targets = prepare_targets(toy_df, cfg)
    split = split_dataset(df, seed=cfg.seed)
    result = fit(split.train, split.val, cfg, targets)
    val = [h["val_macro_f1"] for h in result.history]
    assert result.best_epoch == int(np.argmax(val)) + 1
    assert len(result.history) <= cfg.epochs
    if len(result.history) < cfg.epochs:  # stopped: the last epoch did not improve on the best
        assert val[-1] <= max(val)


# -------------------------------------------------------------------------------------------------------- CV
def test_cross_validate_reports_mean_and_std(tiny_bert_dir, toy_df):
    result = cross_validate(toy_df, tiny_config(tiny_bert_dir, epochs=1), folds=3, progress=False)
    for key in ("macro_f1_mean", "macro_f1_std", "accuracy_mean", "accuracy_std", "weighted_f1_mean"):
        assert 0 <= result[key] <= 1
    assert len(result["per_fold"]) == 3
    assert result["macro_f1_mean"] == pytest.approx(np.mean([r["macro_f1"] for r in result["per_fold"]]))
    assert sum(r["n_test"] for r in result["per_fold"]) == result["n"]
    assert result["oof"]["confusion_matrix"] and result["config"]["epochs"] == 1


def test_cross_validate_dedups_and_can_show_the_leak(tiny_bert_dir, toy_df):
    dup = pd.concat([toy_df, toy_df.iloc[:10]], ignore_index=True)
    dup.attrs.update(toy_df.attrs)
    clean = cross_validate(dup, tiny_config(tiny_bert_dir, epochs=1), folds=2, progress=False)
    leaky = cross_validate(
        dup, tiny_config(tiny_bert_dir, epochs=1), folds=2, progress=False, dedup_first=False
    )
    assert clean["n"] == len(toy_df) and clean["duplicates_dropped"] == 10
    assert leaky["n"] == len(dup)


# ------------------------------------------------------------------------------------------------ config
def test_config_json_round_trip_and_overrides(tmp_path):
    cfg = TrainConfig(epochs=3, learning_rate=1e-4, augment="typo:2", class_weights="sqrt")
    path = cfg.to_json(tmp_path / "best.json")
    assert TrainConfig.from_json(path) == cfg
    merged = config_from_options(path, epochs=5, learning_rate=None, augment="none")
    assert merged.epochs == 5 and merged.learning_rate == 1e-4 and merged.augment == ""
    assert merged.class_weights == "sqrt"
    tune_file = tmp_path / "tune.json"
    tune_file.write_text(json.dumps({"best_value": 0.8, "config": cfg.to_dict()}))
    assert TrainConfig.from_json(tune_file) == cfg


@pytest.mark.parametrize(
    "bad",
    [
        {"method": "magic"},
        {"epochs": 0},
        {"class_weights": "heavy"},
        {"oversample": 2.0},
        {"augment": "nonsense:1"},
        {"optimizer": "lion"},
    ],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(RouterError):
        TrainConfig(**bad)


def test_config_rejects_unknown_keys(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"epochs": 2, "lerning_rate": 1}))
    with pytest.raises(RouterError, match="lerning_rate"):
        TrainConfig.from_json(path)


def test_unknown_model_is_a_router_error(toy_df, tmp_path):
    with pytest.raises(RouterError, match="not found|cannot load model"):
        train(
            toy_df,
            TrainConfig(model=str(tmp_path / "missing-model"), epochs=1),
            tmp_path / "x",
            progress=False,
        )
    assert not (tmp_path / "x").exists()


def test_layer_wise_lr_decay_groups(tiny_bert_dir):
    from transformers import AutoModelForSequenceClassification

    from llm_router.train.finetune import _param_groups

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=3)
    cfg = tiny_config(tiny_bert_dir, learning_rate=1e-3, head_learning_rate=1e-2, layer_lr_decay=0.5)
    lr_of = {id(p): g["lr"] for g in _param_groups(model, cfg) for p in g["params"]}
    named = dict(model.named_parameters())
    assert lr_of[id(named["classifier.weight"])] == pytest.approx(1e-2)
    assert lr_of[id(named["bert.encoder.layer.1.output.dense.weight"])] == pytest.approx(1e-3 * 0.5)
    assert lr_of[id(named["bert.encoder.layer.0.output.dense.weight"])] == pytest.approx(1e-3 * 0.25)
    assert id(named["bert.embeddings.word_embeddings.weight"]) in lr_of  # not frozen here (no freeze applied)
    assert lr_of[id(named["bert.embeddings.position_embeddings.weight"])] == pytest.approx(1e-3 * 0.125)


def test_head_warmup_trains_only_the_head(tiny_bert_dir, toy_df):
    from llm_router.train.finetune import _tokenize, load_classifier, model_inputs, warm_up_head

    cfg = tiny_config(tiny_bert_dir, head_warmup_epochs=3, head_warmup_lr=1e-2)
    df, targets = prepare_targets(toy_df, cfg)
    model, tokenizer = load_classifier(cfg, targets.labels)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    feats = _tokenize(tokenizer, df["text"], "", 64, keep=model_inputs(model))
    y = torch.tensor([targets.labels.index(t) for t in df["target"]])
    losses = warm_up_head(model, feats, y, None, cfg, tokenizer.pad_token_id)
    after = model.state_dict()
    assert len(losses) == 3 and losses[-1] < losses[0]
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("classifier.", "bert.pooler.")) for k in changed)
    assert set(after) == set(before)  # the full model is back in place


def test_auto_train_label_col_picks_a_finer_one_to_one_column(tiny_bert_dir, toy_df, tmp_path):
    from llm_router.train.targets import resolve_train_label_col

    cfg = tiny_config(tiny_bert_dir, train_label_col="auto")
    assert resolve_train_label_col(toy_df, cfg) == "label"  # no category column
    with_category = toy_df.assign(category=toy_df["intent"])  # the demo intents map 1:1 onto routes
    assert resolve_train_label_col(with_category, cfg) == "category"
    noisy = with_category.copy()
    noisy.loc[noisy.index[0], "category"] = noisy.loc[
        noisy["label"] != noisy.loc[noisy.index[0], "label"], "category"
    ].iloc[0]
    assert resolve_train_label_col(noisy, cfg) == "label"  # a category seen with two routes: not used

    result = train(with_category, cfg.replace(epochs=1), tmp_path / "auto", progress=False)
    assert result.config.train_label_col == "category" and result.config.route_map == "auto"
    assert read_json(tmp_path / "auto" / "train_config.json")["train_label_col"] == "category"
    assert read_json(tmp_path / "auto" / "router.json")["route_map"] is not None


def test_cross_validate_only_some_folds(tiny_bert_dir, toy_df):
    full = cross_validate(toy_df, tiny_config(tiny_bert_dir, epochs=1), folds=3, progress=False)
    part = cross_validate(
        toy_df, tiny_config(tiny_bert_dir, epochs=1), folds=3, progress=False, only_folds=[1]
    )
    assert [r["fold"] for r in part["per_fold"]] == [1] and part["oof"] is None
    assert part["per_fold"][0]["macro_f1"] == pytest.approx(full["per_fold"][1]["macro_f1"])
    assert part["per_fold"][0]["n_test"] == full["per_fold"][1]["n_test"]


def test_soup_averages_members(tiny_bert_dir, toy_df, tmp_path):
    result = train(toy_df, tiny_config(tiny_bert_dir, soup=2, epochs=2), tmp_path / "soup", progress=False)
    members = [h.get("member") for h in result.history]
    assert members == [0, 0, 1, 1, "soup"]
    assert result.history[-1]["val_macro_f1"] is not None and "macro_f1" in result.metrics
    assert (tmp_path / "soup" / "training_curves.png").exists()
    one = train(toy_df, tiny_config(tiny_bert_dir, epochs=2), tmp_path / "one", progress=False)
    assert [h["train_loss"] for h in one.history] == pytest.approx(
        [h["train_loss"] for h in result.history[:2]]
    )


def test_encoder_layers_keeps_the_first_k_layers(tiny_bert_dir, toy_df, tmp_path):
    from transformers import AutoModel

    from llm_router.train.finetune import load_classifier

    full = AutoModel.from_pretrained(tiny_bert_dir)
    model, _ = load_classifier(tiny_config(tiny_bert_dir, encoder_layers=1), ["a", "b"])
    assert num_layers(model) == 1 and model.config.num_hidden_layers == 1
    kept = model.base_model.encoder.layer[0].attention.self.query.weight
    original = full.encoder.layer[0].attention.self.query.weight
    assert torch.equal(kept, original)  # the first layer, not a new one
    with pytest.raises(RouterError, match="only 2 layers"):
        load_classifier(tiny_config(tiny_bert_dir, encoder_layers=3), ["a", "b"])
    with pytest.raises(RouterError, match="encoder layers must be >= 1"):
        tiny_config(tiny_bert_dir, encoder_layers=0)
    out = tmp_path / "shallow"
    train(toy_df, tiny_config(tiny_bert_dir, encoder_layers=1, epochs=1), out, progress=False)
    assert read_json(out / "config.json")["num_hidden_layers"] == 1  # the folder reloads as a 1-layer model
    assert read_json(out / "train_config.json")["encoder_layers"] == 1
