"""Builders for the distillation tests: tiny WordPiece / Unigram / BPE tokenizers trained in code, and a tiny
random-initialised BERT teacher folder in the `router train` format (router.json, split.json, data file)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import tiny_tokenizers

KOREAN_TEXTS = [
    "파이썬 코드 버그 고쳐줘",
    "시 한 편 써줘",
    "오늘 날씨 어때",
    "번역해줘 영어로",
    "안녕하세요 반가워요",
]


def demo_texts() -> list[str]:
    from llm_router.data import demo_data_path, load_dataset

    return load_dataset(demo_data_path())["text"].tolist()


def wordpiece_tokenizer(texts, n_words: int = 150):
    """A BERT-style uncased WordPiece tokenizer: specials, every character (+ ``##`` continuation), the most
    frequent words and some word prefixes / suffixes, so words split into several pieces."""
    return tiny_tokenizers.wordpiece_tokenizer(texts, n_words=n_words, split_long_words=True)


def unigram_tokenizer(texts, extra_pieces: int = 300):
    """A SentencePiece-style (XLM-R / multilingual-e5 layout) Unigram tokenizer trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    texts = list(texts)
    n_chars = len({c for t in texts for c in t})
    trainer = trainers.UnigramTrainer(
        vocab_size=n_chars + extra_pieces,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        unk_token="<unk>",
        shrinking_factor=0.75,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=128,
        model_input_names=["input_ids", "attention_mask"],
    )


def bpe_tokenizer(texts, vocab_size: int = 1500):
    """A byte-level BPE tokenizer (RoBERTa / ModernBERT layout) trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>"))
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        model_max_length=128,
        model_input_names=["input_ids", "attention_mask"],
    )


def tiny_bert_classifier(tokenizer, labels, num_layers: int = 4, hidden: int = 32, seed: int = 0):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=num_layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={lab: i for i, lab in enumerate(labels)},
    )
    return BertForSequenceClassification(config)


def make_teacher_folder(
    root: Path, tokenizer=None, num_layers: int = 4, n_per_class: int = 24, train_steps: int = 30
) -> Path:
    """A `router train`-format teacher folder (a tiny BERT, briefly trained so its outputs carry signal) and its
    data file, under ``root``. Returns the teacher folder."""
    import torch

    from llm_router.data import demo_data_path, load_dataset, split_dataset
    from llm_router.utils import text_hash

    df = load_dataset(demo_data_path())
    df = pd.concat(
        [g.sample(min(n_per_class, len(g)), random_state=0) for _, g in sorted(df.groupby("label"))]
    ).reset_index(drop=True)
    root.mkdir(parents=True, exist_ok=True)
    data_path = root / "data.csv"
    df[["text", "label"]].to_csv(data_path, index=False)
    split = split_dataset(df, test_size=0.25, val_size=0.15, seed=0)
    labels = sorted(df["label"].unique())
    tokenizer = tokenizer or wordpiece_tokenizer(df["text"].tolist())
    model = tiny_bert_classifier(tokenizer, labels, num_layers=num_layers)
    if train_steps:
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        texts, y = (
            split.train["text"].tolist(),
            torch.tensor([labels.index(lab) for lab in split.train["label"]]),
        )
        enc = tokenizer(texts, padding=True, truncation=True, max_length=48, return_tensors="pt")
        model.train()
        for _ in range(train_steps):
            loss = torch.nn.functional.cross_entropy(model(**enc).logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
    folder = root / "teacher"
    folder.mkdir()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    router = {
        "format": "llm-router/1",
        "kind": "hf",
        "labels": labels,
        "routes": labels,
        "route_map": None,
        "text_prefix": "",
        "max_length": 48,
        "base_model": "tiny-bert",
        "onnx_file": None,
        "data": {
            "path": str(data_path),
            "text_col": "text",
            "label_col": "label",
            "train_label_col": "label",
        },
        "created_by": "test",
    }
    (folder / "router.json").write_text(json.dumps(router), encoding="utf-8")
    hashes = {
        name: [text_hash(t) for t in part["text"]]
        for name, part in (("train", split.train), ("val", split.val), ("test", split.test))
    }
    (folder / "split.json").write_text(
        json.dumps({"seed": 0, "test_size": 0.25, "val_size": 0.15, "group_col": None, **hashes}),
        encoding="utf-8",
    )
    return folder
