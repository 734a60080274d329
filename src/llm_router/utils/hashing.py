"""Stable ids for texts: used to record which rows a run held out, without copying the data."""

import hashlib
import unicodedata


def normalise_text(text: str) -> str:
    """NFC, trimmed, inner whitespace folded: the form under which two rows count as the same query."""
    return " ".join(unicodedata.normalize("NFC", str(text)).split())


def text_hash(text: str) -> str:
    """First 16 hex digits of the SHA-256 of the normalised text."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()[:16]
