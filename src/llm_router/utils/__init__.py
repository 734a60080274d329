"""Small helpers shared by every stage: atomic artefact writes, the cache folder, hashing."""

from llm_router.utils.files import (
    atomic_output_dir,
    atomic_write_json,
    atomic_write_text,
    cache_dir,
    read_json,
)
from llm_router.utils.hashing import text_hash
from llm_router.utils.tokenizers import load_tokenizer

__all__ = [
    "atomic_output_dir",
    "atomic_write_json",
    "atomic_write_text",
    "cache_dir",
    "load_tokenizer",
    "read_json",
    "text_hash",
]
