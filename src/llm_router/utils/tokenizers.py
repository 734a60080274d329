"""Loading a Hugging Face tokenizer the same way everywhere.

transformers 4.57.3-4.57.x warn, for every tokenizer folder saved by one of those versions, that it has "an
incorrect regex pattern" of Mistral tokenizers (their version check only exempts folders saved by <= 4.57.2 or
>= 5.0); the warning is wrong for every encoder this project trains. Saying ``fix_mistral_regex=False`` explicitly
- which changes nothing for a non-Mistral tokenizer - keeps it quiet on those versions only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

MISTRAL_TYPES = {"mistral", "mistral3", "voxtral", "ministral", "pixtral"}


def _needs_quiet_flag(path: str) -> bool:
    import transformers
    from packaging import version

    v = version.parse(transformers.__version__)
    if not (version.parse("4.57.3") <= v < version.parse("5.0")):
        return False
    config = Path(path) / "config.json"
    if not config.is_file():
        return False
    try:
        model_type = json.loads(config.read_text("utf-8")).get("model_type")
    except (OSError, ValueError):
        return False
    return model_type not in MISTRAL_TYPES


def load_tokenizer(path: str | os.PathLike[str], **kwargs):
    """``AutoTokenizer.from_pretrained(path, **kwargs)`` without the false Mistral-regex warning."""
    from transformers import AutoTokenizer

    path = str(path)
    if _needs_quiet_flag(path):
        kwargs.setdefault("fix_mistral_regex", False)
    return AutoTokenizer.from_pretrained(path, **kwargs)
