"""Tokenisation straight through the Rust ``tokenizers`` library: no ``transformers`` object on the hot path.

Truncation to ``max_length``; padding only to the longest text of a batch (none at all for a single text); the
text prefix of the model (e.g. ``"query: "`` for e5) is prepended here, so every backend sees the same ids.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from llm_router.errors import RouterError

PAD_TOKEN_GUESSES = ("[PAD]", "<pad>", "<|pad|>", "[pad]")


def _pad_token(folder: Path, tokenizer: Tokenizer) -> tuple[int, str]:
    padding = tokenizer.padding
    if padding:
        return int(padding["pad_id"]), str(padding["pad_token"])
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        file = folder / name
        if file.exists():
            token = json.loads(file.read_text(encoding="utf-8")).get("pad_token")
            if isinstance(token, dict):
                token = token.get("content")
            if token and tokenizer.token_to_id(token) is not None:
                return tokenizer.token_to_id(token), token
    for token in PAD_TOKEN_GUESSES:
        if tokenizer.token_to_id(token) is not None:
            return tokenizer.token_to_id(token), token
    return 0, tokenizer.id_to_token(0) or "[PAD]"


def load_fast_tokenizer(folder: str | Path) -> Tokenizer:
    """``tokenizer.json`` of a folder; a folder with only a slow tokenizer is converted once through transformers."""
    folder = Path(folder)
    file = folder / "tokenizer.json"
    if file.exists():
        return Tokenizer.from_file(str(file))
    try:
        from llm_router.utils import load_tokenizer

        return load_tokenizer(folder, use_fast=True).backend_tokenizer
    except Exception as exc:  # no tokenizer files at all, sentencepiece missing, ...
        raise RouterError(
            f"{folder}: no usable tokenizer (tokenizer.json missing and conversion failed: {exc})"
        ) from None


class FastTokenizer:
    """Texts -> ``{"input_ids", "attention_mask", "token_type_ids"}`` int64 arrays of shape ``[batch, seq]``."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        max_length: int,
        text_prefix: str = "",
        pad_id: int = 0,
        pad_token: str = "[PAD]",
    ):
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.text_prefix = text_prefix
        self.pad_id = int(pad_id)
        tokenizer.enable_truncation(max_length=self.max_length)
        tokenizer.enable_padding(pad_id=self.pad_id, pad_token=pad_token)  # length=None: pad to the longest

    @classmethod
    def from_folder(cls, folder: str | Path, max_length: int, text_prefix: str = "") -> FastTokenizer:
        folder = Path(folder)
        tokenizer = load_fast_tokenizer(folder)
        tokenizer.no_padding()
        pad_id, pad_token = _pad_token(folder, tokenizer)
        return cls(tokenizer, max_length, text_prefix, pad_id, pad_token)

    def encode_one(self, text: str) -> dict[str, np.ndarray]:
        """One text, no padding: the batch-1 hot path."""
        enc = self.tokenizer.encode(self.text_prefix + text if self.text_prefix else text)
        return {
            "input_ids": np.array([enc.ids], dtype=np.int64),
            "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([enc.type_ids], dtype=np.int64),
        }

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        if len(texts) == 1:
            return self.encode_one(texts[0])
        prefix = self.text_prefix
        encs = self.tokenizer.encode_batch([prefix + t for t in texts] if prefix else list(texts))
        return {
            "input_ids": np.array([e.ids for e in encs], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encs], dtype=np.int64),
        }

    def token_count(self, text: str) -> int:
        return len(self.tokenizer.encode(self.text_prefix + text).ids)
