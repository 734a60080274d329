"""Vocabulary pruning: keep only the tokens a router ever needs.

A multilingual encoder carries a huge vocabulary (multilingual-e5-small: 250k pieces, so the embedding matrix is
~96M of its 117M parameters and most of its ONNX file), but a router sees a narrow slice of language. We tokenise
every text the student will learn from (training texts, their augmentations, any unlabelled texts), keep exactly the
token ids that occur (+ every special / added token), rebuild the fast tokenizer with only those pieces, and slice the
embedding matrix to the same rows.

Exactness on the kept texts, by tokenizer model:

- **WordPiece** (BERT, MiniLM): greedy longest-match-first. Every piece the old tokenizer chose is kept and every
  longer candidate was absent from the old vocabulary too, so each greedy step makes the same choice.
- **Unigram** (SentencePiece: XLM-R, multilingual-e5): Viterbi over the lattice of vocabulary pieces. The new lattice
  is a subset of the old one that still contains the old best path, so that path stays the best (pieces keep their
  scores).
- **BPE**: we keep the used tokens plus every token they are merged from (transitively) and the merges producing
  them; every merge the old tokenizer applied to a kept text is still there, and removed merges were never the
  lowest-ranked applicable merge, so the merge sequence is unchanged.

Whatever the argument, :func:`verify_pruned_tokenizer` checks it: for every kept text, the old ids mapped through the
old->new table must equal the new ids, or we raise.

Texts *outside* the kept set may tokenise differently: a word whose pieces were pruned falls back to smaller pieces
(Unigram / BPE) or to the unknown token (WordPiece; any tokenizer for characters never seen).
:func:`unknown_token_stats` measures how often that happens on a held-out set; add unlabelled traffic to the transfer
set (``--unlabeled``) to widen the kept vocabulary.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llm_router.errors import RouterError

#: Config attributes that hold a token id and must follow the id remapping.
SPECIAL_ID_ATTRS = (
    "pad_token_id",
    "bos_token_id",
    "eos_token_id",
    "sep_token_id",
    "cls_token_id",
    "mask_token_id",
    "unk_token_id",
    "decoder_start_token_id",
)


@dataclass
class PrunedVocab:
    """A pruned tokenizer and the map back to the original ids.

    ``kept_ids[new_id] == old_id`` (sorted ascending, so ids below the first dropped id keep their value)."""

    tokenizer: Any  # transformers.PreTrainedTokenizerFast
    kept_ids: list[int]
    old_vocab_size: int
    model_type: str
    n_texts: int = 0
    stats: dict = field(default_factory=dict)

    @property
    def new_vocab_size(self) -> int:
        return len(self.kept_ids)

    @property
    def old_to_new(self) -> dict[int, int]:
        return {old: new for new, old in enumerate(self.kept_ids)}

    def as_dict(self) -> dict:
        return {
            "model_type": self.model_type,
            "old_vocab_size": self.old_vocab_size,
            "new_vocab_size": self.new_vocab_size,
            "n_texts": self.n_texts,
            **self.stats,
        }


def _encode_ids(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text with special tokens, never truncated (the backend tokenizer, no padding; its
    truncation / padding settings are restored afterwards)."""
    backend = tokenizer.backend_tokenizer
    truncation, padding = backend.truncation, backend.padding
    backend.no_truncation()
    backend.no_padding()
    try:
        return [enc.ids for enc in backend.encode_batch(list(texts), add_special_tokens=True)]
    finally:
        if truncation:
            backend.enable_truncation(**truncation)
        if padding:
            padding = dict(padding)
            if isinstance(padding.get("strategy"), dict):  # {"Fixed": n}
                padding["length"] = padding.pop("strategy").get("Fixed")
            else:
                padding.pop("strategy", None)
            backend.enable_padding(**padding)


def used_token_ids(tokenizer, texts: Iterable[str]) -> set[int]:
    """Every token id that tokenising ``texts`` produces, plus every special and added token of ``tokenizer``."""
    texts = list(texts)
    ids: set[int] = set()
    for seq in _encode_ids(tokenizer, texts):
        ids.update(seq)
    ids.update(int(i) for i in tokenizer.all_special_ids)
    ids.update(int(i) for i in tokenizer.added_tokens_decoder)
    unk = tokenizer.unk_token_id
    if unk is not None:
        ids.add(int(unk))
    return ids


def _remap_post_processor(proc: dict | None, old_to_new: dict[int, int]) -> dict | None:
    if proc is None:
        return None
    kind = proc.get("type")
    if kind == "Sequence":
        proc["processors"] = [_remap_post_processor(p, old_to_new) for p in proc.get("processors", [])]
    elif kind == "TemplateProcessing":
        for spec in proc.get("special_tokens", {}).values():
            spec["ids"] = [old_to_new[int(i)] for i in spec["ids"]]
    elif kind in ("BertProcessing", "RobertaProcessing"):
        for key in ("sep", "cls"):
            if key in proc:
                token, old_id = proc[key]
                proc[key] = [token, old_to_new[int(old_id)]]
    return proc


def _bpe_closure(model: dict, used_tokens: set[str]) -> tuple[set[str], list]:
    """Used BPE tokens plus everything they are merged from; the merges that build kept tokens."""
    merges = model.get("merges", [])
    pairs = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in merges]
    produced_by = {}
    for rank, (a, b) in enumerate(pairs):
        produced_by.setdefault(a + b, []).append(rank)
    keep = set(used_tokens)
    stack = list(used_tokens)
    while stack:
        token = stack.pop()
        for rank in produced_by.get(token, []):
            for part in pairs[rank]:
                if part not in keep:
                    keep.add(part)
                    stack.append(part)
    kept_merges = [
        m for m, (a, b) in zip(merges, pairs, strict=True) if a in keep and b in keep and a + b in keep
    ]
    return keep, kept_merges


KEEP_CHARS = ("none", "seen", "script")


def char_script(ch: str) -> str:
    """A coarse script key: the first word of the character's Unicode name (``HANGUL``, ``CJK``, ``HIRAGANA``,
    ``KATAKANA``, ``LATIN``, ``DIGIT``...)."""
    try:
        return unicodedata.name(ch).split(" ", 1)[0]
    except ValueError:
        return "?"


def _normalised_chars(texts: Sequence[str], normalizer) -> set[str]:
    chars: set[str] = set()
    for text in texts:
        chars.update(normalizer.normalize_str(text) if normalizer is not None else text)
    chars.discard(" ")
    chars.discard("\u2581")
    return chars


def _single_char_pieces(state: dict, texts: Sequence[str], normalizer, mode: str) -> set[str]:
    """One-character pieces to keep (bare, and as WordPiece continuation / SentencePiece word start): of every
    character in ``texts`` (``seen``), or of every character of the vocabulary whose script occurs in ``texts``
    (``script``). What an unseen word falls back to instead of the unknown token."""
    model = state["model"]
    if model["type"] == "WordPiece":
        marker, at_start = model.get("continuing_subword_prefix") or "##", True
    elif model["type"] == "Unigram":
        marker, at_start = "\u2581", True
    else:
        return set()
    chars = _normalised_chars(texts, normalizer)
    if mode == "script":
        scripts = {char_script(c) for c in chars}
        pieces = model["vocab"] if model["type"] == "WordPiece" else (p for p, _score in model["vocab"])
        for piece in pieces:
            bare = piece[len(marker) :] if at_start and piece.startswith(marker) else piece
            if len(bare) == 1 and char_script(bare) in scripts:
                chars.add(bare)
    return chars | {marker + c for c in chars}


def _frequent_pieces(state: dict, texts: Sequence[str], normalizer, n: int) -> set[str]:
    """The ``n`` most frequent pieces of the vocabulary written only in the scripts of ``texts``: by score for
    Unigram (a piece's log-probability in the tokenizer's training corpus), by id for WordPiece (BERT vocabularies
    are roughly frequency-ordered)."""
    if n <= 0:
        return set()
    scripts = {char_script(c) for c in _normalised_chars(texts, normalizer)}
    model = state["model"]
    if model["type"] == "Unigram":
        marker = "\u2581"
        ranked = [p for p, _ in sorted(model["vocab"], key=lambda ps: -ps[1])]
    elif model["type"] == "WordPiece":
        marker = model.get("continuing_subword_prefix") or "##"
        ranked = sorted(model["vocab"], key=model["vocab"].get)
    else:
        return set()
    out: set[str] = set()
    for piece in ranked:
        bare = piece[len(marker) :] if piece.startswith(marker) else piece
        if bare and all(char_script(c) in scripts for c in bare):
            out.add(piece)
            if len(out) >= n:
                break
    return out


def prune_tokenizer(
    tokenizer,
    texts: Iterable[str],
    *,
    keep_chars: str | bool = "seen",
    keep_frequent: int = 0,
    verify: bool = True,
) -> PrunedVocab:
    """A copy of the fast ``tokenizer`` whose vocabulary holds only the tokens used by ``texts`` (+ specials).

    Supports WordPiece, Unigram and BPE models. ``keep_chars`` also keeps single-character pieces, so unseen words
    fall back to characters rather than to the unknown token: ``"seen"`` (or True) those of every character in
    ``texts``; ``"script"`` every single-character piece of every script that occurs in ``texts`` (e.g. all Hangul
    syllables of the vocabulary - about 2k for multilingual-e5, 7.7k for CJK ideographs); ``"none"`` (or False) none.
    For BPE any value but "none" keeps every one-character token (the byte alphabet of byte-level BPE).
    ``keep_frequent`` also keeps that many of the tokenizer's most frequent pieces written in the scripts of
    ``texts`` (Unigram / WordPiece): whole words for unseen texts instead of character fallbacks. With
    ``verify`` (default), checks that every text tokenises exactly as before (ids mapped through the old->new
    table) and raises :class:`RouterError` if any differs."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    if not getattr(tokenizer, "is_fast", False):
        raise RouterError(
            f"vocabulary pruning needs a fast tokenizer (tokenizer.json); {type(tokenizer).__name__} is not"
        )
    keep_chars = {True: "seen", False: "none"}.get(keep_chars, keep_chars)
    if keep_chars not in KEEP_CHARS:
        raise RouterError(f"keep_chars must be one of {', '.join(KEEP_CHARS)} (got {keep_chars!r})")
    texts = list(dict.fromkeys(str(t) for t in texts))
    if not texts:
        raise RouterError("vocabulary pruning needs at least one text")
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    model = state["model"]
    model_type = model.get("type")
    old_size = tokenizer.backend_tokenizer.get_vocab_size(with_added_tokens=True)
    used = used_token_ids(tokenizer, texts)
    id_to_token = {i: t for t, i in tokenizer.backend_tokenizer.get_vocab(with_added_tokens=True).items()}

    if model_type == "BPE":
        used_tokens = {id_to_token[i] for i in used}
        if keep_chars != "none":  # byte-level BPE: its 256-symbol alphabet, so no byte is ever lost
            used_tokens |= {t for t in model["vocab"] if len(t) == 1}
        keep_tokens, kept_merges = _bpe_closure(model, used_tokens)
        vocab = model["vocab"]
        used |= {vocab[t] for t in keep_tokens if t in vocab}
        model["merges"] = kept_merges
    # A tokenizer's unk / continuing-subword machinery needs the unk piece whatever the texts.
    if model_type in ("WordPiece", "BPE") and model.get("unk_token") in model.get("vocab", {}):
        used.add(model["vocab"][model["unk_token"]])
    if model_type == "Unigram":
        if model.get("unk_id") is not None:
            used.add(int(model["unk_id"]))
        # Keep the lowest-scoring piece: the unk penalty is (min piece score - 10), so an unchanged minimum keeps
        # every unk path scored as before and the old best path stays the best.
        scores = [score for _piece, score in model["vocab"]]
        used.add(min(range(len(scores)), key=scores.__getitem__))
    if keep_chars != "none" and model_type in ("WordPiece", "Unigram"):
        token_to_id = tokenizer.backend_tokenizer.get_vocab(with_added_tokens=False)
        pieces = _single_char_pieces(state, texts, tokenizer.backend_tokenizer.normalizer, keep_chars)
        used |= {token_to_id[p] for p in pieces if p in token_to_id}
    if keep_frequent and model_type in ("WordPiece", "Unigram"):
        token_to_id = tokenizer.backend_tokenizer.get_vocab(with_added_tokens=False)
        pieces = _frequent_pieces(state, texts, tokenizer.backend_tokenizer.normalizer, keep_frequent)
        used |= {token_to_id[p] for p in pieces if p in token_to_id}

    kept_ids = sorted(used)
    old_to_new = {old: new for new, old in enumerate(kept_ids)}

    if model_type in ("WordPiece", "BPE", "WordLevel"):
        model["vocab"] = {tok: old_to_new[i] for tok, i in model["vocab"].items() if i in old_to_new}
    elif model_type == "Unigram":
        model["vocab"] = [model["vocab"][i] for i in kept_ids if i < len(model["vocab"])]
        if model.get("unk_id") is not None:
            model["unk_id"] = old_to_new[int(model["unk_id"])]
    else:
        raise RouterError(f"vocabulary pruning does not support tokenizer model type {model_type!r}")

    state["added_tokens"] = [
        {**tok, "id": old_to_new[int(tok["id"])]} for tok in state.get("added_tokens", [])
    ]
    state["post_processor"] = _remap_post_processor(state.get("post_processor"), old_to_new)
    if state.get("padding") and state["padding"].get("pad_id") is not None:
        state["padding"]["pad_id"] = old_to_new.get(int(state["padding"]["pad_id"]), 0)
    backend = Tokenizer.from_str(json.dumps(state))
    if backend.get_vocab_size(with_added_tokens=True) != len(kept_ids):
        raise RouterError(
            f"pruned tokenizer has {backend.get_vocab_size(with_added_tokens=True)} tokens, expected {len(kept_ids)}"
        )
    new = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_max_length=tokenizer.model_max_length,
        padding_side=tokenizer.padding_side,
        truncation_side=tokenizer.truncation_side,
        model_input_names=list(tokenizer.model_input_names),
        clean_up_tokenization_spaces=getattr(tokenizer, "clean_up_tokenization_spaces", False),
        **{k: str(v) for k, v in tokenizer.special_tokens_map.items() if isinstance(v, str)},
    )
    pruned = PrunedVocab(new, kept_ids, old_size, model_type, n_texts=len(texts))
    if verify:
        verify_pruned_tokenizer(tokenizer, pruned, texts)
    return pruned


def verify_pruned_tokenizer(old_tokenizer, pruned: PrunedVocab, texts: Iterable[str]) -> int:
    """Check that ``pruned`` tokenises every text exactly as ``old_tokenizer`` did; returns the number checked.

    Checks the backend ids (with special tokens, no truncation) and the ids the HF wrapper returns."""
    texts = list(texts)
    old_to_new = pruned.old_to_new
    old_ids = _encode_ids(old_tokenizer, texts)
    new_ids = _encode_ids(pruned.tokenizer, texts)
    wrapped_all = pruned.tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)
    wrapper_ids = wrapped_all["input_ids"]
    for text, old, new, wrapped in zip(texts, old_ids, new_ids, wrapper_ids, strict=True):
        mapped = [old_to_new.get(i, -1) for i in old]
        if mapped != new or list(wrapped) != new:
            raise RouterError(
                f"pruned tokenizer changed the tokenisation of {text[:60]!r}: {mapped[:20]} -> {new[:20]}"
            )
    return len(texts)


def unknown_token_stats(tokenizer, texts: Sequence[str], reference=None) -> dict:
    """How ``tokenizer`` copes with ``texts`` it did not see: texts and tokens that became the unknown token, and
    (given the ``reference`` tokenizer it was pruned from) texts whose tokenisation changed at all."""
    texts = list(texts)
    if not texts:
        return {"n_texts": 0, "texts_with_unk": 0, "unk_token_rate": 0.0, "texts_changed": None}
    unk = tokenizer.unk_token_id
    seqs = _encode_ids(tokenizer, texts)
    n_tokens = sum(len(s) for s in seqs)
    unk_tokens = sum(s.count(unk) for s in seqs) if unk is not None else 0
    with_unk = sum(1 for s in seqs if unk is not None and unk in s)
    changed = None
    if reference is not None:
        ref_tokens = [enc.tokens for enc in reference.backend_tokenizer.encode_batch(texts)]
        new_tokens = [enc.tokens for enc in tokenizer.backend_tokenizer.encode_batch(texts)]
        changed = sum(1 for a, b in zip(ref_tokens, new_tokens, strict=True) if a != b)
    return {
        "n_texts": len(texts),
        "texts_with_unk": with_unk,
        "texts_with_unk_frac": with_unk / len(texts),
        "unk_token_rate": unk_tokens / max(n_tokens, 1),
        "texts_changed": changed,
    }


def prune_embeddings(model, kept_ids: Sequence[int]) -> None:
    """Slice ``model``'s input embedding matrix (and a tied output matrix) to the rows ``kept_ids``, in place, and
    remap the special token ids in its config."""
    import torch

    old_to_new = {old: new for new, old in enumerate(kept_ids)}
    index = torch.as_tensor(list(kept_ids), dtype=torch.long)
    old = model.get_input_embeddings()
    if int(index.max()) >= old.num_embeddings:
        raise RouterError(
            f"tokenizer has id {int(index.max())} but the model has only {old.num_embeddings} embeddings"
        )
    new = torch.nn.Embedding(len(kept_ids), old.embedding_dim, padding_idx=None)
    with torch.no_grad():
        new.weight.copy_(old.weight[index])
    pad = getattr(model.config, "pad_token_id", None)
    if pad is not None and pad in old_to_new:
        new.padding_idx = old_to_new[pad]
    model.set_input_embeddings(new)
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if (
        output is not None
        and getattr(output, "weight", None) is not None
        and output.weight.shape[0] == old.num_embeddings
    ):
        model.tie_weights()
    model.config.vocab_size = len(kept_ids)
    for attr in SPECIAL_ID_ATTRS:
        value = getattr(model.config, attr, None)
        if isinstance(value, int):
            setattr(model.config, attr, old_to_new.get(value))
