"""model_profile(): exact hub id, then substring rules, then the default."""

from __future__ import annotations

import pytest

from llm_router.models import DEFAULT_PROFILE, PRESETS, ModelProfile, model_profile
from llm_router.models.profiles import EXACT_PROFILES, SUBSTRING_RULES


def test_e5_gets_the_query_prefix_and_a_short_max_length():
    profile = model_profile("intfloat/multilingual-e5-small")
    assert profile.text_prefix == "query: "
    assert profile.pooling == "mean" and profile.family == "bert"
    assert 32 <= profile.max_length <= 128 <= profile.max_positions


def test_substring_rules_match_local_folders_and_other_sizes():
    assert (
        model_profile("/home/u/.cache/llm-router/models/intfloat--multilingual-e5-small").text_prefix
        == "query: "
    )
    assert model_profile("intfloat/multilingual-e5-large-instruct").family == "xlm-roberta"
    assert model_profile("runs/teacher-modernbert").family == "modernbert"
    assert model_profile("someone/distilbert-finetuned").family == "distilbert"


@pytest.mark.parametrize(
    ("name", "family", "pooling", "prefix"),
    [
        ("sentence-transformers/all-MiniLM-L6-v2", "bert", "mean", ""),
        ("sentence-transformers/all-mpnet-base-v2", "mpnet", "mean", ""),
        ("answerdotai/ModernBERT-base", "modernbert", "cls", ""),
        ("huawei-noah/TinyBERT_General_4L_312D", "bert", "cls", ""),
        ("distilbert-base-multilingual-cased", "distilbert", "cls", ""),
        ("ANSWERDOTAI/modernbert-BASE", "modernbert", "cls", ""),  # case-insensitive
    ],
)
def test_known_models(name, family, pooling, prefix):
    profile = model_profile(name)
    assert (profile.family, profile.pooling, profile.text_prefix) == (family, pooling, prefix)


def test_unknown_names_get_the_default_profile():
    assert model_profile("acme/unknown-encoder") == DEFAULT_PROFILE
    assert DEFAULT_PROFILE.text_prefix == "" and DEFAULT_PROFILE.max_length == 128


def test_every_preset_has_an_explicit_profile():
    for name in PRESETS:
        assert name in EXACT_PROFILES, name


def test_exact_ids_agree_with_the_substring_rules_on_prefix():
    """An exact entry and the rule that would catch its local copy must not disagree on the prefix."""
    for name, profile in EXACT_PROFILES.items():
        lowered = name.lower()
        rule = next((p for s, p in SUBSTRING_RULES if s in lowered), None)
        if rule is not None:
            assert rule.text_prefix == profile.text_prefix, name


def test_invalid_profiles_are_rejected():
    with pytest.raises(ValueError, match="pooling"):
        ModelProfile(pooling="max")
    with pytest.raises(ValueError, match="max_length"):
        ModelProfile(max_length=1024, max_positions=512)
