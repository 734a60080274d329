"""`load_tokenizer`: the same tokenizer as AutoTokenizer, without transformers 4.57.3+'s false Mistral warning."""

import json

import pytest
import transformers
from packaging import version
from tiny_tokenizers import wordpiece_tokenizer
from transformers import AutoTokenizer

from llm_router.utils import load_tokenizer
from llm_router.utils.tokenizers import _needs_quiet_flag

TEXTS = ["route this query", "write a poem about the sea", "solve 2x + 3 = 7"]


@pytest.fixture
def bert_folder(tmp_path):
    tok = wordpiece_tokenizer(TEXTS)
    tok.save_pretrained(tmp_path)
    config = {"model_type": "bert", "transformers_version": transformers.__version__}
    (tmp_path / "config.json").write_text(json.dumps(config), "utf-8")
    return tmp_path


def test_same_ids_as_autotokenizer_and_no_mistral_warning(bert_folder, capfd):
    ours = load_tokenizer(bert_folder)
    assert capfd.readouterr().err.count("incorrect regex pattern") == 0
    theirs = AutoTokenizer.from_pretrained(str(bert_folder))
    if _needs_quiet_flag(
        str(bert_folder)
    ):  # the warning is real without the flag: the test above means something
        assert "incorrect regex pattern" in capfd.readouterr().err
    for text in TEXTS:
        assert ours(text)["input_ids"] == theirs(text)["input_ids"]


def test_flag_only_for_affected_versions_and_non_mistral_folders(bert_folder, tmp_path_factory):
    v = version.parse(transformers.__version__)
    affected = version.parse("4.57.3") <= v < version.parse("5.0")
    assert _needs_quiet_flag(str(bert_folder)) is affected
    mistral = tmp_path_factory.mktemp("mistral")
    (mistral / "config.json").write_text(json.dumps({"model_type": "mistral"}), "utf-8")
    assert _needs_quiet_flag(str(mistral)) is False
    assert (
        _needs_quiet_flag(str(tmp_path_factory.mktemp("empty"))) is False
    )  # no config.json: hub id / bare folder
