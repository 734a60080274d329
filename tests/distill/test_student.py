"""Students: spec parsing, layer selection, a layer student cut from the teacher, an HF-model student."""

from __future__ import annotations

import pytest
import torch
from kd_fixtures import demo_texts, tiny_bert_classifier, wordpiece_tokenizer

from llm_router.distill.student import (
    StudentSpec,
    hf_student,
    layer_student,
    parse_student_spec,
    select_layers,
    start_layers,
)
from llm_router.distill.vocab import prune_tokenizer
from llm_router.errors import RouterError

LABELS = ["Claude", "gemini-mini", "gpt-o1"]


@pytest.fixture(scope="module")
def texts():
    return demo_texts()[:120]


@pytest.fixture(scope="module")
def tokenizer(texts):
    return wordpiece_tokenizer(texts)


@pytest.fixture(scope="module")
def teacher(tokenizer):
    return tiny_bert_classifier(tokenizer, LABELS, num_layers=6).eval()


def test_parse_student_spec():
    assert parse_student_spec("layers:4") == StudentSpec("layers", num_layers=4)
    assert parse_student_spec("static") == StudentSpec("static")
    spec = parse_student_spec("huawei-noah/TinyBERT_General_4L_312D")
    assert spec.kind == "hf" and spec.model_name == "huawei-noah/TinyBERT_General_4L_312D"
    assert str(parse_student_spec("layers:3")) == "layers:3"
    for bad in ("layers:x", "layers:0", "", "layers:0,x", "layers:3,1", "layers:1,1", "layers:-1,2"):
        with pytest.raises(RouterError):
            parse_student_spec(bad)


def test_a_spec_can_name_the_teacher_layers_that_start_the_student():
    spec = parse_student_spec("layers:0,1,2,3")
    assert spec == StudentSpec("layers", num_layers=4, init_layers=(0, 1, 2, 3))
    assert str(spec) == "layers:0,1,2,3"


def test_named_initialising_layers_are_copied_and_the_matched_layers_stay_evenly_spaced(teacher):
    assert start_layers(6, 2, (2, 5)) == [2, 5]
    student, layer_map = layer_student(teacher, 2, init_layers=(2, 5))
    assert layer_map == [2, 5]  # what the hidden-state loss matches: unchanged by the starting point
    for s, t in enumerate((2, 5)):
        t_state = teacher.bert.encoder.layer[t].state_dict()
        s_state = student.bert.encoder.layer[s].state_dict()
        for key in t_state:
            torch.testing.assert_close(s_state[key], t_state[key])
    with pytest.raises(RouterError, match="cannot be cut"):
        layer_student(teacher, 2, init_layers=(0, 6))


def test_by_default_a_student_starts_from_the_teachers_first_layers_and_its_last():
    assert start_layers(12, 4) == [0, 1, 2, 11]
    assert start_layers(6, 4) == [0, 1, 2, 5]
    assert start_layers(6, 1) == [5]
    assert start_layers(6, 6) == list(range(6))  # full depth: the teacher's layers in order
    with pytest.raises(RouterError, match="cannot be cut"):
        start_layers(4, 6)


def test_select_layers_is_tinybert_uniform_mapping():
    assert select_layers(12, 4) == [2, 5, 8, 11]
    assert select_layers(12, 6) == [1, 3, 5, 7, 9, 11]
    assert select_layers(6, 6) == list(range(6))
    assert select_layers(12, 1) == [11]
    with pytest.raises(RouterError, match="cannot be cut"):
        select_layers(4, 6)


def test_layer_student_copies_mapped_layers_and_pruned_embeddings(teacher, tokenizer, texts):
    pruned = prune_tokenizer(tokenizer, texts[:40])
    student, layer_map = layer_student(teacher, 2, pruned.kept_ids)
    assert layer_map == [2, 5]  # matched to evenly spaced layers, started from the first and the last
    assert start_layers(6, 2) == [0, 5]
    assert student.config.num_hidden_layers == 2 and len(student.bert.encoder.layer) == 2
    assert student.get_input_embeddings().num_embeddings == pruned.new_vocab_size
    assert student.config.id2label == teacher.config.id2label
    for s, t in enumerate(start_layers(6, 2)):
        s_state, t_state = (
            student.bert.encoder.layer[s].state_dict(),
            teacher.bert.encoder.layer[t].state_dict(),
        )
        for key in t_state:
            torch.testing.assert_close(s_state[key], t_state[key])
    torch.testing.assert_close(
        student.get_input_embeddings().weight, teacher.get_input_embeddings().weight[pruned.kept_ids]
    )
    torch.testing.assert_close(student.classifier.weight, teacher.classifier.weight)


def test_full_depth_student_reproduces_the_teacher_exactly(teacher, tokenizer, texts):
    pruned = prune_tokenizer(tokenizer, texts)
    student, _ = layer_student(teacher, teacher.config.num_hidden_layers, pruned.kept_ids)
    student.eval()
    with torch.no_grad():
        expected = teacher(**tokenizer(texts[:8], padding=True, return_tensors="pt")).logits
        got = student(**pruned.tokenizer(texts[:8], padding=True, return_tensors="pt")).logits
    torch.testing.assert_close(got, expected)


def test_layer_student_saves_and_loads_with_auto_classes(teacher, tokenizer, texts, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    pruned = prune_tokenizer(tokenizer, texts)
    student, _ = layer_student(teacher, 3, pruned.kept_ids)
    student.save_pretrained(tmp_path)
    pruned.tokenizer.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    tok = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.config.num_hidden_layers == 3 and loaded.config.vocab_size == pruned.new_vocab_size
    with torch.no_grad():
        logits = loaded(**tok(texts[:5], padding=True, return_tensors="pt")).logits
    assert logits.shape == (5, len(LABELS)) and torch.isfinite(logits).all()


def test_hf_student_from_a_local_folder(tokenizer, tmp_path):
    from transformers import BertConfig, BertModel

    encoder = BertModel(
        BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=24,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=48,
            max_position_embeddings=64,
        )
    )
    encoder.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    model, tok = hf_student(str(tmp_path), LABELS)
    assert model.config.num_labels == 3 and model.config.id2label[2] == "gpt-o1"
    assert len(tok) == len(tokenizer)


def test_hf_student_unknown_name_is_a_router_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RouterError):
        hf_student("no-such-org/no-such-model-xyz", LABELS)
