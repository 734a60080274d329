"""Fixtures shared by every stage's tests.

``tiny_classifier_dir``: a tiny BERT sequence classifier in the `router train` folder format (docs/ARTEFACTS.md),
built in code once per session (no download): a synthetic templated routing set (``tiny_route_frame``), a WordPiece
tokenizer over its training texts, BERT with hidden 32 and 2 layers, 3 routes, briefly fitted so that its
predictions mean something (validation accuracy ~0.93); ``router.json`` + ``split.json`` + the CSV they refer
to. Treat it as read-only (copy it with ``shutil.copytree`` before changing anything).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiny_tokenizers import wordpiece_tokenizer

TINY_ROUTES = ["Claude", "gemini-mini", "gpt-o1"]
TINY_MAX_LENGTH = 48


def tiny_wordpiece_tokenizer(texts, n_words: int = 200):
    """A lowercase BERT WordPiece tokenizer over ``texts`` (see :func:`tiny_tokenizers.wordpiece_tokenizer`)."""
    return wordpiece_tokenizer(texts, n_words=n_words, model_max_length=TINY_MAX_LENGTH)


TEMPLATES = {
    "gpt-o1": [
        "solve {a}x + {b} = {c} for x",
        "prove that {a} is not a perfect square",
        "debug my python function that {task}",
        "what is the derivative of x^{a} + {b}x",
        "compute the integral of {a}x^{b} from 0 to {c}",
        "optimise this sql query that {task}",
    ],
    "Claude": [
        "write a poem about {topic}",
        "draft a polite email to my {person} about {topic}",
        "write a short story where a {person} discovers {topic}",
        "rewrite this paragraph about {topic} formally",
        "write a product description for {topic}",
        "summarise this essay on {topic} in a friendly tone",
    ],
    "gemini-mini": [
        "hi {person}",
        "thanks, {person}!",
        "what time is it in {city}",
        "translate hello into {lang}",
        "good morning from {city}",
        "how do you say thanks in {lang}",
        "is it raining in {city}",
        "hello {person}, how are you",
        "what is the weather in {city} today",
        "say goodbye in {lang}",
    ],
}
FILLERS = {
    "a": [str(n) for n in range(2, 30)],
    "b": [str(n) for n in range(1, 12)],
    "c": [str(n) for n in range(3, 50)],
    "task": ["sorts a list", "parses dates", "reads a csv file", "merges two tables", "counts words"],
    "topic": ["the sea", "autumn leaves", "a lost key", "coffee", "the moon", "a red bicycle", "old friends"],
    "person": ["boss", "teacher", "neighbour", "landlord", "friend", "doctor"],
    "city": ["paris", "tokyo", "lima", "oslo", "cairo", "seoul"],
    "lang": ["french", "japanese", "korean", "spanish", "german"],
}


def tiny_route_frame(per_route: int = 40, seed: int = 0):
    """A small synthetic, learnable routing set (columns text, label): templated queries per route."""
    import random

    import pandas as pd

    rng = random.Random(seed)
    rows, seen = [], set()
    for route, templates in TEMPLATES.items():
        count = 0
        for _attempt in range(100 * per_route):
            if count == per_route:
                break
            template = rng.choice(templates)
            text = template.format(**{key: rng.choice(values) for key, values in FILLERS.items()})
            if text not in seen:
                seen.add(text)
                rows.append((text, route))
                count += 1
    rng.shuffle(rows)
    return pd.DataFrame(rows, columns=["text", "label"])


def build_tiny_classifier(
    out: Path, data_dir: Path, per_route: int = 40, epochs: int = 20, seed: int = 0
) -> Path:
    """Write the tiny classifier folder to ``out`` and its CSV to ``data_dir/tiny.csv``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from llm_router.data import split_dataset

    df = tiny_route_frame(per_route, seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    data_path = data_dir / "tiny.csv"
    df.to_csv(data_path, index=False)
    split = split_dataset(df, test_size=0.2, val_size=0.25, seed=seed)

    tokenizer = tiny_wordpiece_tokenizer(split.train["text"].tolist())
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=len(TINY_ROUTES),
        id2label=dict(enumerate(TINY_ROUTES)),
        label2id={r: i for i, r in enumerate(TINY_ROUTES)},
        pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    model = BertForSequenceClassification(config)
    # A few epochs, so that the logits are not near ties (then quantisation would flip decisions by chance).
    texts, labels = split.train["text"].tolist(), [TINY_ROUTES.index(x) for x in split.train["label"]]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model trains faster on one thread (and leaves the other core alone)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(texts), generator=generator).split(8):
            enc = tokenizer(
                [texts[i] for i in batch],
                padding=True,
                truncation=True,
                max_length=TINY_MAX_LENGTH,
                return_tensors="pt",
            )
            loss = model(**enc, labels=torch.tensor([labels[i] for i in batch])).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    torch.set_num_threads(threads)
    model.eval()

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    router = {
        "format": "llm-router/1",
        "kind": "hf",
        "labels": TINY_ROUTES,
        "routes": TINY_ROUTES,
        "route_map": None,
        "text_prefix": "",
        "max_length": TINY_MAX_LENGTH,
        "base_model": "tiny-random-bert",
        "onnx_file": None,
        "data": {
            "path": str(data_path),
            "text_col": "text",
            "label_col": "label",
            "train_label_col": "label",
        },
        "created_by": "tests/conftest.py",
    }
    (out / "router.json").write_text(json.dumps(router, indent=2), encoding="utf-8")
    hashes = split.hashes()
    (out / "split.json").write_text(
        json.dumps({"seed": seed, "test_size": 0.2, "val_size": 0.25, "group_col": None, **hashes}, indent=2),
        encoding="utf-8",
    )
    return out


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory) -> Path:
    """A `kind: hf` model folder (tiny trained BERT, 3 routes, router.json, split.json, data CSV). Read-only."""
    root = tmp_path_factory.mktemp("tiny-classifier")
    return build_tiny_classifier(root / "model", root / "data")


@pytest.fixture(scope="session")
def tiny_onnx_dir(tmp_path_factory, tiny_classifier_dir) -> Path:
    """`router quantize --int8` of ``tiny_classifier_dir``: a `kind: onnx` folder with ``model.onnx`` (float,
    graph-optimised) and ``model_int8.onnx`` (served), ``quantize.json``, tokenizer, router.json, split.json."""
    from llm_router.quantize import QuantizeConfig, quantize_model

    out = tmp_path_factory.mktemp("tiny-onnx") / "model"
    quantize_model(QuantizeConfig(model=str(tiny_classifier_dir), out=str(out), int8=True, threads=1))
    return out
