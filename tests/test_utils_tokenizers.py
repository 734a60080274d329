"""`load_tokenizer`: the same tokenizer as AutoTokenizer, without transformers 4.57.3+'s false Mistral warning."""

import json
import logging

import pytest
import transformers
from packaging import version
from transformers import AutoTokenizer

from llm_router.utils import load_tokenizer
from llm_router.utils.tokenizers import _needs_quiet_flag

TEXTS = ["route this query", "write a poem about the sea", "solve 2x + 3 = 7"]


@pytest.fixture
def bert_folder(tmp_path):
    """A WordPiece tokenizer folder with a vocabulary over 100k pieces (transformers only checks those, as
    multilingual e5's 250k vocabulary) and the config.json of a BERT saved by this transformers version."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    from tiny_tokenizers import BERT_SPECIALS, bert_fast_tokenizer

    words = sorted({w for t in TEXTS for w in t.split()})
    vocab = {t: i for i, t in enumerate(BERT_SPECIALS + words + [f"filler{i}" for i in range(100_001)])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    bert_fast_tokenizer(tok, vocab, 64).save_pretrained(tmp_path)
    config = {"model_type": "bert", "transformers_version": transformers.__version__}
    (tmp_path / "config.json").write_text(json.dumps(config), "utf-8")
    return tmp_path


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def transformers_log():
    handler = Records()
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_same_ids_as_autotokenizer_and_no_mistral_warning(bert_folder, transformers_log):
    ours = load_tokenizer(bert_folder)
    assert not [m for m in transformers_log if "incorrect regex pattern" in m]
    theirs = AutoTokenizer.from_pretrained(str(bert_folder))
    # the warning is real without the flag: the check above means something
    if _needs_quiet_flag(str(bert_folder)):
        assert [m for m in transformers_log if "incorrect regex pattern" in m]
    for text in TEXTS:
        assert ours(text)["input_ids"] == theirs(text)["input_ids"]


def test_flag_only_for_affected_versions_and_non_mistral_folders(bert_folder, tmp_path_factory):
    v = version.parse(transformers.__version__)
    affected = version.parse("4.57.3") <= v < version.parse("5.0")
    assert _needs_quiet_flag(str(bert_folder)) is affected
    mistral = tmp_path_factory.mktemp("mistral")
    (mistral / "config.json").write_text(json.dumps({"model_type": "mistral"}), "utf-8")
    assert _needs_quiet_flag(str(mistral)) is False
    # no config.json: a hub id or a bare folder
    assert _needs_quiet_flag(str(tmp_path_factory.mktemp("empty"))) is False
