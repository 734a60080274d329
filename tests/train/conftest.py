"""Tiny random-initialised models (no download): a char-level tokenizer over the demo set's characters, a 2-layer
BERT, a 2-layer ModernBERT and a 1-layer T5 (for the model-based augmenters). Built once per session in tmp dirs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tiny_tokenizers import bert_fast_tokenizer

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "</s>"]


def toy_frame(n_per_class: int = 20, seed: int = 0) -> pd.DataFrame:
    """Up to ``n_per_class`` demo rows per route, skewed on purpose (columns text, label, intent)."""
    from llm_router.data import demo_data_path, load_dataset

    df = load_dataset(demo_data_path(), extra_cols=("intent",))
    parts = []
    for k, (_, group) in enumerate(sorted(df.groupby("label"), key=lambda kv: kv[0])):
        take = max(6, n_per_class - 5 * k)  # skewed: 20 / 15 / 10 by default
        parts.append(group.sample(min(take, len(group)), random_state=seed))
    out = pd.concat(parts).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    out.attrs.update(df.attrs)
    return out


def char_tokenizer(texts, model_max_length: int = 128):
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    chars = sorted({c for t in texts for c in t if not c.isspace()} | set("query:"))
    vocab = {tok: i for i, tok in enumerate(SPECIALS + chars)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), behavior="isolated")]
    )
    return bert_fast_tokenizer(tok, vocab, model_max_length, eos_token="</s>")


def _all_demo_texts():
    from llm_router.data import demo_data_path, load_dataset

    return load_dataset(demo_data_path())["text"].tolist()


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return char_tokenizer(_all_demo_texts())


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=tiny_tokenizer.pad_token_id,
    )
    BertModel(config).save_pretrained(out)
    tiny_tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_modernbert_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    import torch
    from transformers import ModernBertConfig, ModernBertModel

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-modernbert")
    t = tiny_tokenizer
    config = ModernBertConfig(
        vocab_size=len(t),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        global_attn_every_n_layers=2,
        local_attention=16,
        pad_token_id=t.pad_token_id,
        cls_token_id=t.cls_token_id,
        sep_token_id=t.sep_token_id,
        bos_token_id=t.cls_token_id,
        eos_token_id=t.sep_token_id,
        attn_implementation="eager",
    )
    ModernBertModel(config).save_pretrained(out)
    t.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_seq2seq_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-t5")
    t = tiny_tokenizer
    config = T5Config(
        vocab_size=len(t),
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        pad_token_id=t.pad_token_id,
        eos_token_id=t.convert_tokens_to_ids("</s>"),
        decoder_start_token_id=t.pad_token_id,
    )
    T5ForConditionalGeneration(config).save_pretrained(out)
    t.save_pretrained(out)
    return out


@pytest.fixture
def toy_df() -> pd.DataFrame:
    return toy_frame()


@pytest.fixture
def seed_csv() -> Path:
    path = SHARED_DATA / "seed" / "labeled_data.csv"
    if not path.exists():
        pytest.skip("../shared/data is absent")
    return path
