"""Augmenters: deterministic for a seed, really changing the text, only ever applied to the rows they are given."""

import random

import pandas as pd
import pytest

from llm_router.data.augment import (
    OFFLINE_AUGMENTERS,
    AugmentStep,
    augment_dataframe,
    parse_augment_spec,
    punct,
    spacing,
    swap,
    typo,
)
from llm_router.errors import RouterError
from llm_router.utils.hashing import normalise_text

TEXTS = [
    "일본 혼슈에 태풍이 상륙했어?",
    "protools aaeエラー 941の原因は？",
    "반포지하상가",
    "write a short poem about the sea",
    "あまり興味無い、全く興味無い熟語ありますか",
]


@pytest.mark.parametrize("name", sorted(OFFLINE_AUGMENTERS))
def test_each_augmenter_is_deterministic_and_changes_text(name):
    fn = OFFLINE_AUGMENTERS[name]
    outputs = [fn(t, random.Random(5)) for t in TEXTS]
    assert outputs == [fn(t, random.Random(5)) for t in TEXTS]
    produced = [(t, o) for t, o in zip(TEXTS, outputs, strict=True) if o is not None]
    assert produced, f"{name} produced nothing"
    assert any(normalise_text(o) != normalise_text(t) for t, o in produced)


def test_hangul_typo_stays_hangul_and_length_is_close():
    for seed in range(20):
        out = typo("반포지하상가", random.Random(seed))
        assert abs(len(out) - 6) <= 1
        assert all("\uac00" <= c <= "\ud7a3" for c in out)


def test_spacing_only_moves_spaces():
    for seed in range(10):
        out = spacing("일본 혼슈에 태풍이 상륙했어?", random.Random(seed))
        assert out.replace(" ", "") == "일본혼슈에태풍이상륙했어?"


def test_swap_keeps_the_words_and_punct_keeps_the_body():
    out = swap("write a short poem", random.Random(0))
    assert sorted(out.split()) == sorted(["write", "a", "short", "poem"]) and out != "write a short poem"
    assert swap("한단어", random.Random(0)) is None
    assert punct("태풍이 상륙했어?", random.Random(0)).rstrip("?.!~").startswith("태풍이 상륙했어")


def test_spec_parsing():
    steps = parse_augment_spec("typo:2, spacing , swap:1,backtranslate:1@a/b+c/d,paraphrase:3@p")
    assert steps == [
        AugmentStep("typo", 2),
        AugmentStep("spacing", 1),
        AugmentStep("swap", 1),
        AugmentStep("backtranslate", 1, ("a/b", "c/d")),
        AugmentStep("paraphrase", 3, ("p",)),
    ]
    assert parse_augment_spec("") == parse_augment_spec("none") == parse_augment_spec(None) == []
    assert parse_augment_spec("typo:0") == []
    for bad in ("typo:x", "magic:1", "paraphrase:1", "typo:1@model", "typo:-1"):
        with pytest.raises(RouterError):
            parse_augment_spec(bad)


def skewed_frame():
    rows = [(f"Claude 질문 번호 {i} 입니다", "Claude") for i in range(8)]
    rows += [(f"gemini 짧은 요청 {i} 해줘", "gemini-mini") for i in range(4)]
    rows += [(f"gpt 코딩 문제 {i} 풀어줘", "gpt-o1") for i in range(2)]
    return pd.DataFrame(rows, columns=["text", "label"])


def test_augment_dataframe_minority_scope_and_copies():
    df = skewed_frame()
    out = augment_dataframe(df, "typo:2,swap:1", seed=0)
    originals = out[out["augmented"] == ""]
    assert originals[["text", "label"]].equals(df[["text", "label"]])
    added = out[out["augmented"] != ""]
    assert set(added["label"]) == {"gemini-mini", "gpt-o1"}  # the majority class is not augmented
    assert (added["augmented"] == "typo").sum() == 2 * 6 and (added["augmented"] == "swap").sum() == 6
    all_scope = augment_dataframe(df, "swap:1", seed=0, scope="all")
    assert "Claude" in set(all_scope.loc[all_scope["augmented"] != "", "label"])


def test_augment_dataframe_is_deterministic_and_seed_dependent():
    df = skewed_frame()
    a = augment_dataframe(df, "typo:2,spacing:1", seed=3)
    assert a.equals(augment_dataframe(df, "typo:2,spacing:1", seed=3))
    assert not a.equals(augment_dataframe(df, "typo:2,spacing:1", seed=4))
    # row order does not change what a text becomes
    shuffled = augment_dataframe(
        df.sample(frac=1, random_state=0).reset_index(drop=True), "typo:2,spacing:1", seed=3
    )
    assert set(shuffled["text"]) == set(a["text"])


def test_augmentation_never_produces_held_out_or_existing_texts():
    df = skewed_frame()
    first = augment_dataframe(df, "swap:1", seed=0)
    produced = set(first.loc[first["augmented"] != "", "text"])
    held_out = sorted(produced)[:3]  # pretend these are test texts
    again = augment_dataframe(df, "swap:1", seed=0, exclude_texts=held_out)
    new = set(again.loc[again["augmented"] != "", "text"])
    assert not new & set(held_out)
    assert not new & set(df["text"])
    keys = [normalise_text(t) for t in again["text"]]
    assert len(keys) == len(set(keys))  # no duplicates created


def test_model_based_augmenters_on_a_tiny_random_seq2seq(tmp_path):
    import torch
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    chars = sorted({c for t in skewed_frame()["text"] for c in t if not c.isspace()})
    vocab = {t: i for i, t in enumerate(["<pad>", "</s>", "<unk>", *chars])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), behavior="isolated")]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    torch.manual_seed(0)
    T5ForConditionalGeneration(
        T5Config(
            vocab_size=len(vocab),
            d_model=16,
            d_kv=8,
            d_ff=32,
            num_layers=1,
            num_heads=2,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    ).save_pretrained(tmp_path / "t5")
    tokenizer.save_pretrained(tmp_path / "t5")
    model = str(tmp_path / "t5")
    df = skewed_frame()
    for spec in (f"paraphrase:2@{model}", f"backtranslate:1@{model}+{model}"):
        a = augment_dataframe(df, spec, seed=0)
        b = augment_dataframe(df, spec, seed=0)
        assert a.equals(b)
        added = a[a["augmented"] != ""]
        assert set(added["label"]) <= {"gemini-mini", "gpt-o1"}
        assert not set(added["text"]) & set(df["text"])
        if spec.startswith("paraphrase"):
            assert len(added) > 0 and (added["augmented"] == "paraphrase").all()
    with pytest.raises(RouterError, match="cannot load seq2seq"):
        augment_dataframe(df, f"paraphrase:1@{tmp_path / 'nothing'}", seed=0)
