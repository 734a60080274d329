"""Distillation end to end on a tiny random teacher: loss, transfer set, layer / HF / static students, CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from kd_fixtures import make_teacher_folder

from llm_router.distill.config import DistillConfig
from llm_router.distill.distill import distill
from llm_router.distill.losses import kd_loss
from llm_router.distill.transfer import build_transfer_set, load_teacher_folder, mixed_texts
from llm_router.errors import RouterError
from llm_router.persistence import load_folder_data
from llm_router.utils import text_hash


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    return make_teacher_folder(tmp_path_factory.mktemp("kd"))


@pytest.fixture(scope="module")
def layer_run(teacher_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("students") / "layers2"
    config = DistillConfig(
        student="layers:1,3",  # started evenly spaced, far from the teacher: KD has work to show
        epochs=6,
        learning_rate=2e-3,
        patience=0,
        hidden_weight=1.0,
        attention_weight=1.0,
        augment="typo:1",
        mix=1,
        prune_vocab=True,  # the pruning path; layers:K students keep the teacher's vocabulary by default
    )
    return distill(teacher_dir, out, config)


# ------------------------------------------------------------------------------------------------ loss
def test_kd_loss_parts():
    torch.manual_seed(0)
    teacher = torch.randn(6, 3)
    gold = torch.tensor([0, 1, 2, -1, 1, 0])
    # Student equal to the teacher: KL is zero, only CE on labelled rows remains
    loss, parts = kd_loss(teacher.clone(), teacher, gold, alpha=0.5, temperature=2.0)
    assert parts["kl"] == pytest.approx(0.0, abs=1e-6)
    ce = torch.nn.functional.cross_entropy(teacher[gold >= 0], gold[gold >= 0])
    assert float(loss) == pytest.approx(0.5 * float(ce), rel=1e-5)
    # alpha = 0: pure KD, scaled by T^2
    student = torch.randn(6, 3)
    loss0, parts0 = kd_loss(student, teacher, gold, alpha=0.0, temperature=2.0)
    p = torch.softmax(teacher / 2, -1)
    kl = (p * (p.log() - torch.log_softmax(student / 2, -1))).sum(-1).mean() * 4
    assert float(loss0) == pytest.approx(float(kl), rel=1e-5)
    # Unlabelled-only batch: no CE term at all
    _, parts_u = kd_loss(student, teacher, torch.full((6,), -1), alpha=0.5, temperature=1.0)
    assert parts_u["ce"] == 0.0


def test_kd_loss_several_temperatures_is_the_mean_of_each():
    torch.manual_seed(1)
    student, teacher, gold = torch.randn(5, 3), torch.randn(5, 3), torch.tensor([0, 1, -1, 2, 1])
    each = [float(kd_loss(student, teacher, gold, alpha=0.3, temperature=t)[0]) for t in (1.0, 2.0, 4.0)]
    loss, parts = kd_loss(student, teacher, gold, alpha=0.3, temperature=(1.0, 2.0, 4.0))
    assert float(loss) == pytest.approx(sum(each) / 3, rel=1e-5)
    assert parts["kl"] > 0


def test_kd_temperatures_option():
    assert DistillConfig(temperature=3.0).kd_temperatures() == (3.0,)
    assert DistillConfig(temperatures="1, 2,4").kd_temperatures() == (1.0, 2.0, 4.0)
    for bad in ("1,0", "1,x", ","):
        with pytest.raises(RouterError, match="temperatures"):
            DistillConfig(temperatures=bad)


# ------------------------------------------------------------------------------------------------ transfer set
def test_transfer_set_never_holds_val_or_test_texts(teacher_dir, tmp_path):
    info = load_teacher_folder(teacher_dir)
    held_out = set(info.split["val"]) | set(info.split["test"])
    unlabeled = tmp_path / "more.txt"
    leaked = info.test["text"].iloc[0]
    unlabeled.write_text(f"a brand new unlabelled question\n{leaked}\n\n", encoding="utf-8")
    transfer = build_transfer_set(info, DistillConfig(augment="typo:1,swap:1", unlabeled=str(unlabeled)))
    hashes = [text_hash(t) for t in transfer.texts]
    assert not set(hashes) & held_out
    assert len(hashes) == len(set(hashes))
    counts = transfer.counts()
    assert counts["train"] == len(info.train)
    assert counts.get("typo", 0) > 0 and counts["unlabeled"] == 1
    assert (transfer.gold[np.array(transfer.source) == "unlabeled"] == -1).all()
    assert (transfer.gold[np.array(transfer.source) == "train"] >= 0).all()


def test_max_transfer_keeps_every_training_text_and_samples_the_generated_ones(teacher_dir):
    info = load_teacher_folder(teacher_dir)
    full = build_transfer_set(info, DistillConfig(augment="typo:2", mix=2, max_transfer=None))
    cap = len(info.train) + 5
    capped = build_transfer_set(info, DistillConfig(augment="typo:2", mix=2, max_transfer=cap))
    assert len(full.texts) > cap and len(capped.texts) == cap
    assert capped.counts()["train"] == len(info.train)  # originals always kept
    assert set(capped.texts) <= set(full.texts)
    again = build_transfer_set(info, DistillConfig(augment="typo:2", mix=2, max_transfer=cap))
    assert again.texts == capped.texts  # deterministic for a seed
    with pytest.raises(RouterError, match="max_transfer"):
        DistillConfig(max_transfer=0)


def test_mixed_texts_are_new_unlabelled_texts(teacher_dir):
    info = load_teacher_folder(teacher_dir)
    train = list(info.train["text"])
    mixed = mixed_texts(train, copies=3, seed=1)
    assert len(mixed) > len(train)  # ~3 per text, minus the few that came out unchanged
    assert mixed == mixed_texts(train, copies=3, seed=1)  # deterministic
    assert len(set(mixed) - set(train)) > 0.9 * len(set(mixed))
    transfer = build_transfer_set(info, DistillConfig(augment="", mix=2))
    mix_rows = np.array(transfer.source) == "mix"
    assert mix_rows.any() and (transfer.gold[mix_rows] == -1).all()
    assert not set(text_hash(t) for t in transfer.texts) & set(info.split["test"])


def test_load_teacher_folder_errors(teacher_dir, tmp_path):
    with pytest.raises(RouterError, match="no such teacher folder"):
        load_teacher_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RouterError, match="not a model folder"):
        load_teacher_folder(tmp_path / "empty")
    with pytest.raises(RouterError, match="gone"):
        load_teacher_folder(teacher_dir, data_path=tmp_path / "nope.csv")


def test_config_validation():
    with pytest.raises(RouterError, match="alpha"):
        DistillConfig(alpha=1.5)
    with pytest.raises(RouterError):
        DistillConfig(student="layers:zero")
    with pytest.raises(RouterError, match="augment"):
        DistillConfig(augment="nonsense:1")


# ------------------------------------------------------------------------------------------------ layer student
def test_layer_student_folder_matches_the_artefact_contract(layer_run, teacher_dir):
    from transformers import AutoConfig

    out = layer_run.out_dir
    router = json.loads((out / "router.json").read_text())
    teacher_router = json.loads((teacher_dir / "router.json").read_text())
    assert router["kind"] == "hf" and router["labels"] == teacher_router["labels"]
    assert router["data"] == teacher_router["data"] and router["created_by"] == "router distill"
    assert (out / "split.json").read_text() == (teacher_dir / "split.json").read_text()
    config = AutoConfig.from_pretrained(out)
    assert config.num_hidden_layers == 2
    info = json.loads((out / "distill.json").read_text())
    assert config.vocab_size == info["vocab"]["new_vocab_size"] < info["vocab"]["old_vocab_size"]
    assert info["layer_map"] == [1, 3] and info["init_layers"] == [1, 3]
    assert {"n_texts", "texts_with_unk", "unk_token_rate"} <= set(info["vocab"]["test_unknown"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"accuracy", "macro_f1", "confusion_matrix"} <= set(metrics)
    assert (out / "training_curves.png").stat().st_size > 0
    assert json.loads((out / "train_config.json").read_text())["student"] == "layers:1,3"


def test_distillation_loss_decreases(layer_run):
    history = json.loads((layer_run.out_dir / "history.json").read_text())
    assert len(history) == 6
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["train_kl"] < history[0]["train_kl"]
    assert "train_hidden" in history[0] and "train_attention" in history[0]
    assert sum(row["best"] for row in history) == 1


def test_every_epoch_is_scored_against_the_teacher_and_the_kept_one_is_chosen_by_select_on(layer_run):
    history = json.loads((layer_run.out_dir / "history.json").read_text())
    info = json.loads((layer_run.out_dir / "distill.json").read_text())
    assert all({"val_macro_f1", "val_agreement", "val_kl"} <= set(row) for row in history)
    assert all(0 <= row["val_agreement"] <= 1 and row["val_kl"] >= 0 for row in history)
    assert info["select_on"] == "agreement"
    kept = next(row for row in history if row["best"])
    assert info["best_epoch"] == kept["epoch"] and info["best_val_agreement"] == kept["val_agreement"]
    assert kept["val_agreement"] == max(row["val_agreement"] for row in history)
    ties = [row for row in history if row["val_agreement"] == kept["val_agreement"]]
    assert kept["val_kl"] == min(row["val_kl"] for row in ties)


def test_a_spent_time_budget_ends_distillation_after_the_epoch_running(teacher_dir, tmp_path):
    config = DistillConfig(student="layers:1", epochs=5, augment="", mix=0, patience=0, time_budget_s=1e-3)
    result = distill(teacher_dir, tmp_path / "s", config)
    history = json.loads((result.out_dir / "history.json").read_text())
    assert len(history) == 1 and history[0]["time_budget"].startswith("re-planned after epoch 1")
    assert result.info["epochs_run"] == 1 and result.info["time_budget"] == history[0]["time_budget"]
    unbounded = distill(teacher_dir, tmp_path / "u", dataclasses.replace(config, time_budget_s=0, epochs=2))
    assert unbounded.info["epochs_run"] == 2 and unbounded.info["time_budget"] is None


def test_selection_score_orders_epochs_by_the_chosen_criterion():
    from llm_router.distill.distill import _selection_score

    a = {"val_macro_f1": 0.9, "val_agreement": 0.8, "val_kl": 0.01}
    b = {"val_macro_f1": 0.7, "val_agreement": 0.9, "val_kl": 0.30}
    c = {"val_macro_f1": 0.7, "val_agreement": 0.9, "val_kl": 0.20}
    assert _selection_score(a, "macro_f1") > _selection_score(b, "macro_f1")
    assert (
        _selection_score(c, "agreement") > _selection_score(b, "agreement") > _selection_score(a, "agreement")
    )
    assert _selection_score(a, "kl") > _selection_score(c, "kl") > _selection_score(b, "kl")
    assert _selection_score({"val_macro_f1": 0.5}, "agreement") == 0.5  # no teacher scores: F1
    with pytest.raises(RouterError, match="select_on"):
        DistillConfig(select_on="loss")


def test_frozen_embeddings_stay_the_teachers_rows(layer_run, teacher_dir):
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    student = load_file(str(layer_run.out_dir / "model.safetensors"))
    teacher = load_file(str(teacher_dir / "model.safetensors"))
    key = "bert.embeddings.word_embeddings.weight"
    # The student's vocabulary is a subset of the teacher's: find each kept token's teacher row by its text.
    old = AutoTokenizer.from_pretrained(teacher_dir).get_vocab()
    new = AutoTokenizer.from_pretrained(layer_run.out_dir).get_vocab()
    rows = sorted(new.items(), key=lambda kv: kv[1])
    kept_ids = [old[token] for token, _ in rows]
    torch.testing.assert_close(student[key], teacher[key][kept_ids])


def test_by_default_a_layer_student_keeps_the_teachers_vocabulary_and_a_static_one_prunes():
    assert not DistillConfig().prunes_vocab("layers") and DistillConfig().prunes_vocab("static")
    assert DistillConfig(prune_vocab=True).prunes_vocab("layers")
    assert not DistillConfig(prune_vocab=False).prunes_vocab("static")


def test_an_unpruned_layer_student_tokenises_exactly_as_its_teacher(teacher_dir, tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    config = DistillConfig(student="layers:1", epochs=1, augment="", mix=0, patience=0)
    result = distill(teacher_dir, tmp_path / "s", config)
    assert "vocab" not in result.info
    assert (
        AutoConfig.from_pretrained(result.out_dir).vocab_size
        == AutoConfig.from_pretrained(teacher_dir).vocab_size
    )
    texts = ["an unseen word: zyxwvut", "write a poem about the sea"]
    teacher_tok, student_tok = (AutoTokenizer.from_pretrained(p) for p in (teacher_dir, result.out_dir))
    assert teacher_tok(texts)["input_ids"] == student_tok(texts)["input_ids"]


def test_layer_student_predicts_through_the_runtime(layer_run):
    from llm_router.runtime.predictor import Predictor

    info = load_teacher_folder(layer_run.out_dir)
    predictor = Predictor.load(layer_run.out_dir, threads=1)
    pred = predictor.predict(list(info.test["text"]))
    accuracy = float(np.mean(np.array(pred.routes) == info.test["route"].to_numpy()))
    assert accuracy == pytest.approx(layer_run.metrics["accuracy"])


def test_existing_output_is_kept_when_distillation_fails(teacher_dir, tmp_path):
    out = tmp_path / "student"
    out.mkdir()
    (out / "keep.txt").write_text("previous model")
    with pytest.raises(RouterError):
        distill(teacher_dir, out, DistillConfig(student="layers:9", epochs=1))  # deeper than the teacher
    assert (out / "keep.txt").read_text() == "previous model"


# ------------------------------------------------------------------------------------------------ other students
def test_hf_model_student(teacher_dir, tmp_path):
    from transformers import BertConfig, BertModel

    teacher_tok_dir = teacher_dir  # reuse the teacher's tokenizer for a different, narrower encoder
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(teacher_tok_dir)
    base = tmp_path / "tiny-encoder"
    BertModel(
        BertConfig(
            vocab_size=len(tok),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=64,
        )
    ).save_pretrained(base)
    tok.save_pretrained(base)
    result = distill(
        teacher_dir,
        tmp_path / "hf-student",
        DistillConfig(student=str(base), epochs=2, learning_rate=1e-3, augment="", mix=0, hidden_weight=1.0),
    )
    router = json.loads((tmp_path / "hf-student" / "router.json").read_text())
    assert router["base_model"] == str(base) and router["student"] == str(base)
    assert "layer matching" in result.info["note"] or "hidden-state" in result.info["note"]
    assert 0.0 <= result.metrics["macro_f1"] <= 1.0


def test_static_student(teacher_dir, tmp_path):
    from model2vec import StaticModel

    from llm_router.runtime.predictor import Predictor

    out = tmp_path / "static"
    result = distill(
        teacher_dir, out, DistillConfig(student="static", augment="typo:1", mix=0, static_pca_dims=16)
    )
    router = json.loads((out / "router.json").read_text())
    assert router["kind"] == "static" and router["text_prefix"] == ""
    model = StaticModel.from_pretrained(str(out))
    head = np.load(out / "head.npz")
    assert head["coef"].shape == (3, model.dim) == (3, 16) and head["intercept"].shape == (3,)
    assert 0 < model.embedding.shape[0] <= result.info["vocab"]["new_vocab_size"]
    info = load_folder_data(out)
    pred = Predictor.load(out, threads=1).predict(list(info.test["text"]))
    accuracy = float(np.mean(np.array(pred.routes) == info.test["route"].to_numpy()))
    assert accuracy == pytest.approx(result.metrics["accuracy"])
    assert result.info["head"]["C"] in DistillConfig().static_c_grid


def test_soft_logistic_fits_soft_targets():
    from llm_router.distill.static import fit_soft_logistic

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    w = rng.normal(size=(3, 5))
    logits = x @ w.T
    target = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    coef, intercept = fit_soft_logistic(x, target, c=100.0)
    pred = x @ coef.T + intercept
    probs = np.exp(pred - pred.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    assert np.abs(probs - target).mean() < 0.05


# ------------------------------------------------------------------------------------------------ CLI
def test_distill_cli(teacher_dir, tmp_path):
    from typer.testing import CliRunner

    from llm_router.cli import app

    out = tmp_path / "cli-student"
    summary = tmp_path / "summary.json"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "distill",
            "--teacher",
            str(teacher_dir),
            "--out",
            str(out),
            "--student",
            "layers:1",
            "--epochs",
            "1",
            "--augment",
            "none",
            "--mix",
            "0",
            "--json",
            str(summary),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "router.json").read_text())["student"] == "layers:1"
    assert json.loads(summary.read_text())["info"]["transfer_set"]["n"] > 0
    bad = runner.invoke(app, ["distill", "--teacher", str(tmp_path / "nope"), "--out", str(out)])
    assert bad.exit_code == 2 and "no such teacher folder" in bad.output
    assert "Traceback" not in bad.output


def test_cached_teacher_hidden_states_match_a_live_forward(teacher_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from llm_router.distill.losses import hidden_mse
    from llm_router.distill.scoring import _pad_hidden, teacher_outputs

    tok = AutoTokenizer.from_pretrained(teacher_dir)
    model = AutoModelForSequenceClassification.from_pretrained(teacher_dir).eval()
    texts = list(load_teacher_folder(teacher_dir).train["text"][:10])
    logits, cached = teacher_outputs(model, tok, texts, "", 48, batch_size=4, hidden_layers=[0, 2, 4])
    assert logits.shape == (10, 3) and len(cached) == 10 and cached[0].shape[0] == 3
    idx = [7, 1, 4]
    enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=48, return_tensors="pt")
    with torch.no_grad():
        live = model(**enc, output_hidden_states=True).hidden_states
    padded = _pad_hidden(cached, idx, enc["input_ids"].shape[1])
    mask = enc["attention_mask"]
    # Same values on real tokens (float16 storage), zero loss between the two
    assert float(hidden_mse(padded, [live[i] for i in (0, 2, 4)], mask)) < 1e-5


def test_static_distillation_leaves_the_tokenizers_untouched():
    from kd_fixtures import demo_texts, tiny_bert_classifier, unigram_tokenizer

    from llm_router.distill.static import distill_static_model
    from llm_router.distill.vocab import unknown_token_stats

    texts = demo_texts()[:120]
    tok = unigram_tokenizer(texts)
    before = tok.backend_tokenizer.to_str()
    model = tiny_bert_classifier(tok, ["a", "b"])
    static, pruned = distill_static_model(model.base_model, tok, texts[:60], DistillConfig(static_pca_dims=8))
    assert tok.backend_tokenizer.to_str() == before
    assert unknown_token_stats(pruned.tokenizer, texts[:60], reference=tok)["texts_changed"] == 0
    assert static.embedding.shape[1] == 8


def test_generated_texts_join_the_transfer_set_only_below_generate_below(teacher_dir):
    info = load_teacher_folder(teacher_dir)
    n_train = len(info.train)
    small = build_transfer_set(info, DistillConfig(augment="typo:1", mix=1, generate_below=n_train + 1))
    large = build_transfer_set(info, DistillConfig(augment="typo:1", mix=1, generate_below=n_train))
    always = build_transfer_set(info, DistillConfig(augment="typo:1", mix=1, generate_below=0))
    assert {"typo", "mix"} <= set(small.source)
    assert set(large.source) == {"train"} and len(large.texts) == n_train
    assert always.texts == small.texts
    assert small.summary()["generated"].startswith("yes: ")
    assert large.summary()["generated"] == f"no: {n_train} training texts >= --generate-below {n_train}"
    assert large.summary()["n"] == large.summary()["train"] == n_train
    with pytest.raises(RouterError, match="generate_below"):
        DistillConfig(generate_below=-1)
