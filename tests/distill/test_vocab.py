"""Vocabulary pruning: the pruned tokenizer must tokenise every kept text exactly as before."""

from __future__ import annotations

import json

import pytest
from kd_fixtures import (
    bpe_tokenizer,
    demo_texts,
    tiny_bert_classifier,
    unigram_tokenizer,
    wordpiece_tokenizer,
)

from llm_router.distill.vocab import (
    prune_embeddings,
    prune_tokenizer,
    unknown_token_stats,
    used_token_ids,
    verify_pruned_tokenizer,
)
from llm_router.errors import RouterError

BUILDERS = {"wordpiece": wordpiece_tokenizer, "unigram": unigram_tokenizer, "bpe": bpe_tokenizer}


@pytest.fixture(scope="module")
def texts():
    return demo_texts()


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def tokenizer(request, texts):
    return BUILDERS[request.param](texts)


def _ids(tok, texts):
    return [tok(t, add_special_tokens=True)["input_ids"] for t in texts]


def test_pruned_tokenizer_is_equivalent_on_kept_texts(tokenizer, texts):
    kept_texts = texts[:250]
    pruned = prune_tokenizer(tokenizer, kept_texts)
    assert pruned.new_vocab_size < pruned.old_vocab_size
    assert len(pruned.tokenizer) == pruned.new_vocab_size
    old_to_new = pruned.old_to_new
    for old, new in zip(_ids(tokenizer, kept_texts), _ids(pruned.tokenizer, kept_texts), strict=True):
        assert [old_to_new[i] for i in old] == new
    # The same tokens, not just the same ids
    assert tokenizer.tokenize(kept_texts[3]) == pruned.tokenizer.tokenize(kept_texts[3])
    # Every special token survives and maps to itself by name
    for name, token in tokenizer.special_tokens_map.items():
        if isinstance(token, str):
            assert pruned.tokenizer.special_tokens_map[name] == token
            assert pruned.kept_ids[
                pruned.tokenizer.convert_tokens_to_ids(token)
            ] == tokenizer.convert_tokens_to_ids(token)


def test_pruned_tokenizer_survives_save_and_reload(tokenizer, texts, tmp_path):
    from transformers import AutoTokenizer

    kept_texts = texts[:120]
    pruned = prune_tokenizer(tokenizer, kept_texts)
    pruned.tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert _ids(reloaded, kept_texts) == _ids(pruned.tokenizer, kept_texts)
    assert reloaded.model_input_names == tokenizer.model_input_names
    assert verify_pruned_tokenizer(tokenizer, pruned, kept_texts) == len(set(kept_texts))
    batch = reloaded(kept_texts[:4], padding=True)
    assert all(len(row) == len(batch["input_ids"][0]) for row in batch["input_ids"])


def test_pruned_vocab_is_exactly_the_used_tokens_without_keep_chars(texts):
    tok = wordpiece_tokenizer(texts)
    kept_texts = texts[:60]
    pruned = prune_tokenizer(tok, kept_texts, keep_chars=False)
    assert set(pruned.kept_ids) == used_token_ids(tok, kept_texts) | {tok.unk_token_id}


def test_keep_chars_lets_unseen_words_fall_back_to_characters(texts):
    tok = wordpiece_tokenizer(texts)
    kept = ["write code now", "hello there"]
    unseen = "wordle"  # only characters of the kept texts, but not a kept word
    bare = prune_tokenizer(tok, kept, keep_chars=False)
    with_chars = prune_tokenizer(tok, kept, keep_chars=True)
    assert bare.tokenizer.unk_token in bare.tokenizer.tokenize(unseen)
    assert with_chars.tokenizer.unk_token not in with_chars.tokenizer.tokenize(unseen)
    stats = unknown_token_stats(bare.tokenizer, [unseen, "hello there"], reference=tok)
    assert stats["texts_with_unk"] == 1 and stats["n_texts"] == 2
    assert stats["texts_changed"] >= 1


def test_unigram_unseen_text_segments_without_error(texts):
    tok = unigram_tokenizer(texts)
    pruned = prune_tokenizer(tok, texts[:100])
    new_char = "鬱"  # not in any demo text: the unknown piece
    ids = pruned.tokenizer(f"테스트 {new_char}")["input_ids"]
    assert pruned.tokenizer.unk_token_id in ids


def test_pruned_embeddings_give_identical_model_outputs(texts):
    import torch

    tok = wordpiece_tokenizer(texts)
    model = tiny_bert_classifier(tok, ["a", "b", "c"]).eval()
    kept_texts = texts[:80]
    pruned = prune_tokenizer(tok, kept_texts)
    import copy

    small = copy.deepcopy(model)
    prune_embeddings(small, pruned.kept_ids)
    assert small.get_input_embeddings().num_embeddings == pruned.new_vocab_size
    assert small.config.vocab_size == pruned.new_vocab_size
    with torch.no_grad():
        old = model(**tok(kept_texts[:16], padding=True, return_tensors="pt")).logits
        new = small(**pruned.tokenizer(kept_texts[:16], padding=True, return_tensors="pt")).logits
    torch.testing.assert_close(old, new)


def test_pruning_rejects_slow_tokenizers_and_empty_input(texts):
    tok = wordpiece_tokenizer(texts)
    with pytest.raises(RouterError, match="at least one text"):
        prune_tokenizer(tok, [])

    class Slow:
        is_fast = False

    with pytest.raises(RouterError, match="fast tokenizer"):
        prune_tokenizer(Slow(), ["x"])


def test_keep_chars_script_keeps_every_character_of_the_seen_scripts(texts):
    tok = unigram_tokenizer(texts)
    korean = [t for t in texts if any("\uac00" <= c <= "\ud7a3" for c in t)]
    kept, unseen = korean[:5], korean[5:]
    seen = prune_tokenizer(tok, kept, keep_chars="seen")
    script = prune_tokenizer(tok, kept, keep_chars="script")
    assert seen.new_vocab_size < script.new_vocab_size < script.old_vocab_size
    unk_seen = unknown_token_stats(seen.tokenizer, unseen)["unk_token_rate"]
    unk_script = unknown_token_stats(script.tokenizer, unseen)["unk_token_rate"]
    assert unk_script < unk_seen
    # Every Hangul syllable piece of the original vocabulary survives; no kana piece does (not a seen script).
    vocab = script.tokenizer.get_vocab()
    old_vocab = tok.get_vocab()
    hangul = [
        p for p in old_vocab if len(p.lstrip("\u2581")) == 1 and "\uac00" <= p.lstrip("\u2581") <= "\ud7a3"
    ]
    kana = [
        p for p in old_vocab if len(p.lstrip("\u2581")) == 1 and "\u3040" <= p.lstrip("\u2581") <= "\u30ff"
    ]
    # (The vocabulary's lowest-scoring piece is always kept - it fixes the unknown-token penalty - and may be kana.)
    state = json.loads(tok.backend_tokenizer.to_str())
    lowest = min(state["model"]["vocab"], key=lambda piece_score: piece_score[1])[0]
    assert hangul and all(p in vocab for p in hangul)
    assert kana and not any(p in vocab for p in kana if p != lowest)
    with pytest.raises(RouterError, match="keep_chars"):
        prune_tokenizer(tok, kept, keep_chars="everything")


def test_keep_frequent_adds_common_pieces_of_seen_scripts_only(texts):
    tok = unigram_tokenizer(texts)
    english = [t for t in texts if t.isascii()]
    base = prune_tokenizer(tok, english[:10], keep_chars="none")
    more = prune_tokenizer(tok, english[:10], keep_chars="none", keep_frequent=150)
    assert base.new_vocab_size < more.new_vocab_size <= base.new_vocab_size + 150
    added = set(more.tokenizer.get_vocab()) - set(base.tokenizer.get_vocab())
    assert added and all(p.lstrip("\u2581").isascii() for p in added)  # no Hangul / kana pieces
    # Still exact on the kept texts (verified inside), and the added pieces are the highest-scoring ones
    scores = dict(json.loads(tok.backend_tokenizer.to_str())["model"]["vocab"])
    dropped = set(tok.get_vocab()) - set(more.tokenizer.get_vocab())
    ascii_dropped = [p for p in dropped if p.lstrip("\u2581").isascii() and p.lstrip("\u2581").isalpha()]
    assert min(scores[p] for p in added) >= max(scores[p] for p in ascii_dropped)
