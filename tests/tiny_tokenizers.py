"""Tokenizers made in code for the tests (no download): the BERT wrapping every builder shares, and a WordPiece
tokenizer over a list of texts. Importable from any test (``tests/`` is on ``sys.path`` through its conftest)."""

from __future__ import annotations

from collections import Counter

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def bert_fast_tokenizer(tok, vocab: dict[str, int], model_max_length: int, **special_tokens):
    """Give a ``tokenizers.Tokenizer`` BERT's ``[CLS] A [SEP] B [SEP]`` template and wrap it as a transformers
    fast tokenizer with BERT's special tokens (plus ``special_tokens``, e.g. ``eos_token``)."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=model_max_length,
        **special_tokens,
    )


def wordpiece_tokenizer(
    texts, n_words: int = 200, model_max_length: int = 128, split_long_words: bool = False
):
    """A lowercase BERT WordPiece tokenizer over ``texts``: specials, every character (and its ``##`` form) and
    the most frequent words, so unknown words split into characters instead of becoming [UNK];
    ``split_long_words`` also adds a 3-character prefix and its ``##`` rest of each long word, so words split
    into several pieces."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    norm = normalizers.BertNormalizer(lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    words = Counter(w for t in texts for w, _ in pre.pre_tokenize_str(norm.normalize_str(t)))
    chars = sorted({c for w in words for c in w})
    tokens = [*BERT_SPECIALS, *chars, *("##" + c for c in chars)]
    for word, _n in words.most_common(n_words):
        tokens += [word, word[:3], "##" + word[3:]] if split_long_words and len(word) > 3 else [word]
    vocab: dict[str, int] = {}
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer = norm
    tok.pre_tokenizer = pre
    tok.decoder = decoders.WordPiece()
    return bert_fast_tokenizer(tok, vocab, model_max_length)
