import pytest
from serve_helpers import running

from llm_router.serve import FakePredictor


@pytest.fixture
def fake_server():
    """A ready server around a zero-delay fake model; the state has ``.base_url`` and ``.predictor``."""
    with running(FakePredictor(0.0), max_body_bytes=4096, max_batch_texts=8, max_text_chars=100) as state:
        yield state


@pytest.fixture(scope="session")
def random_bert_dir(tmp_path_factory):
    """A tiny random-initialised BERT classifier folder (hidden 32, 2 layers, char vocabulary), built in code."""
    import json
    import string

    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder = tmp_path_factory.mktemp("random-bert")
    chars = sorted(set(string.ascii_lowercase + string.digits + string.punctuation))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *("##" + c for c in chars)]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(str(folder / "vocab.txt"), do_lower_case=True, model_max_length=32)
    routes = ["Claude", "gemini-mini", "gpt-o1"]
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=3,
        id2label=dict(enumerate(routes)),
        label2id={r: i for i, r in enumerate(routes)},
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    router = {"format": "llm-router/1", "kind": "hf", "labels": routes, "routes": routes, "route_map": None,
              "text_prefix": "", "max_length": 32, "created_by": "tests"}  # fmt: skip
    (folder / "router.json").write_text(json.dumps(router), encoding="utf-8")
    return folder
