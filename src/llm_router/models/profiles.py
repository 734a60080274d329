"""How to feed text to a base model: prefix, truncation length, pooling, architecture family.

One table, read by :func:`model_profile`: an exact hub id first, then the first substring rule that matches
(case-insensitive, so local folders such as ``.../intfloat--multilingual-e5-small`` match too), else the default.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

POOLINGS = ("mean", "cls")


@dataclass(frozen=True)
class ModelProfile:
    """``text_prefix`` is prepended to every text before tokenisation; ``max_length`` is the recommended
    truncation for short router queries (the model allows up to ``max_positions``); ``pooling`` is how a sentence
    vector is taken from token vectors; ``family`` is the architecture (``bert``, ``modernbert``, ``distilbert``,
    ``mpnet``, ``xlm-roberta``, ...)."""

    text_prefix: str = ""
    max_length: int = 128
    pooling: str = "mean"
    family: str = "bert"
    max_positions: int = 512

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {self.pooling!r}")
        if not 0 < self.max_length <= self.max_positions:
            raise ValueError(f"max_length {self.max_length} must be in 1..{self.max_positions}")


DEFAULT_PROFILE = ModelProfile()

# E5 models are trained with "query: " / "passage: " prefixes; router inputs are queries. 64 tokens covers short
# queries (the model allows 512: raise max_length for long prompts).
E5_BERT = ModelProfile(text_prefix="query: ", max_length=64, pooling="mean", family="bert")
E5_XLMR = replace(E5_BERT, family="xlm-roberta")
SENTENCE_BERT = ModelProfile(max_length=128, pooling="mean", family="bert")
MPNET = ModelProfile(max_length=128, pooling="mean", family="mpnet")
MODERNBERT = ModelProfile(max_length=128, pooling="cls", family="modernbert", max_positions=8192)
DISTILBERT = ModelProfile(max_length=128, pooling="cls", family="distilbert")
BERT_CLS = ModelProfile(max_length=128, pooling="cls", family="bert")
XLM_ROBERTA = ModelProfile(max_length=128, pooling="cls", family="xlm-roberta")
ROBERTA = ModelProfile(max_length=128, pooling="cls", family="roberta")
DEBERTA = ModelProfile(max_length=128, pooling="cls", family="deberta")

EXACT_PROFILES: dict[str, ModelProfile] = {
    "intfloat/multilingual-e5-small": E5_BERT,
    "intfloat/multilingual-e5-base": E5_XLMR,
    "intfloat/multilingual-e5-large": E5_XLMR,
    "intfloat/e5-small-v2": E5_BERT,
    "intfloat/e5-base-v2": E5_BERT,
    "cnmoro/portuguese-multilingual-e5-small": E5_BERT,
    "sentence-transformers/all-MiniLM-L6-v2": SENTENCE_BERT,
    "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2": SENTENCE_BERT,
    "sentence-transformers/all-mpnet-base-v2": MPNET,
    "answerdotai/ModernBERT-base": MODERNBERT,
    "answerdotai/ModernBERT-large": MODERNBERT,
    "huawei-noah/TinyBERT_General_4L_312D": BERT_CLS,
    "distilbert-base-multilingual-cased": DISTILBERT,
    "distilbert/distilbert-base-multilingual-cased": DISTILBERT,
    "xlm-roberta-base": XLM_ROBERTA,
    "FacebookAI/xlm-roberta-base": XLM_ROBERTA,
}

# (substring, profile), first match wins: specific names before generic ones.
SUBSTRING_RULES: tuple[tuple[str, ModelProfile], ...] = (
    ("multilingual-e5-small", E5_BERT),
    ("multilingual-e5", E5_XLMR),
    ("e5-small", E5_BERT),
    ("e5-base", E5_BERT),
    ("e5-large", E5_BERT),
    ("modernbert", MODERNBERT),
    ("minilm", SENTENCE_BERT),
    ("mpnet", MPNET),
    ("sentence-transformers", SENTENCE_BERT),
    ("tinybert", BERT_CLS),
    ("distilbert", DISTILBERT),
    ("xlm-roberta", XLM_ROBERTA),
    ("deberta", DEBERTA),
    ("roberta", ROBERTA),
    ("bge-", BERT_CLS),
    ("gte-", SENTENCE_BERT),
    ("bert", BERT_CLS),
)


def model_profile(name: str) -> ModelProfile:
    """The profile of a hub id or local model folder (unknown names get :data:`DEFAULT_PROFILE`)."""
    key = str(name).strip()
    if key in EXACT_PROFILES:
        return EXACT_PROFILES[key]
    lowered = key.lower()
    for exact, profile in EXACT_PROFILES.items():
        if exact.lower() == lowered:
            return profile
    for substring, profile in SUBSTRING_RULES:
        if substring in lowered:
            return profile
    return DEFAULT_PROFILE
