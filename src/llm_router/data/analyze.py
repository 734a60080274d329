"""`router analyze`: what a small labelled query set really holds - duplicates, imbalance, lengths, scripts."""

from __future__ import annotations

import unicodedata
from collections import Counter

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from llm_router.utils.hashing import normalise_text

SCRIPTS = ("hangul", "kana", "han", "latin", "other")
TINY_CLASS = 20  # fewer distinct examples than this in a class is called out
HEAVY_DUPLICATION = 0.10  # share of duplicate rows that earns a warning


def char_script(ch: str) -> str | None:
    """The script of one character, or None for digits, punctuation and spaces."""
    o = ord(ch)
    if 0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
        return "hangul"
    if 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xFF66 <= o <= 0xFF9D:
        return "kana"
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF:
        return "han"
    if not ch.isalpha():
        return None
    return "latin" if "LATIN" in unicodedata.name(ch, "") else "other"


def text_script(text: str) -> str:
    """Dominant script of a text. Kana wins over Han (Japanese mixes both); Hangul wins over Han."""
    counts = Counter(s for s in map(char_script, text) if s)
    if not counts:
        return "other"
    if counts["kana"]:
        return "kana"
    if counts["hangul"]:
        return "hangul"
    return counts.most_common(1)[0][0]


def _stats(values) -> dict:
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        return {"p50": 0, "p95": 0, "max": 0, "mean": 0}
    return {
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "max": int(arr.max()),
        "mean": round(float(arr.mean()), 2),
    }


def _token_lengths(
    texts: list[str], tokenizer_name: str | None
) -> tuple[list[int] | None, int | None, str | None]:
    """Token counts with the model's tokenizer (its text prefix included), the model's max length, or a reason."""
    if not tokenizer_name:
        return None, None, None
    try:
        from llm_router.data.lengths import token_lengths
        from llm_router.models import model_profile, resolve
        from llm_router.utils import load_tokenizer

        profile = model_profile(tokenizer_name)
        tok = load_tokenizer(resolve(tokenizer_name))
        return token_lengths(tok, texts, profile.text_prefix), profile.max_length, None
    except Exception as exc:  # token lengths are informative, not essential: say why they are missing
        return (
            None,
            None,
            f"token lengths skipped: tokenizer '{tokenizer_name}' unavailable ({str(exc)[:120]})",
        )


def analyze_dataset(df: pd.DataFrame, tokenizer_name: str | None = None) -> dict:
    """All the numbers `router analyze` prints, as a JSON-ready dict."""
    texts = df["text"].tolist()
    keys = df["text"].map(normalise_text)
    distinct = int(keys.nunique())
    labels_per_text = df.groupby(keys)["label"].nunique()
    conflicting = int((labels_per_text > 1).sum())
    label_counts = {k: int(v) for k, v in df["label"].value_counts().items()}
    dedup_counts = {
        k: int(v) for k, v in df.assign(_k=keys).drop_duplicates("_k")["label"].value_counts().items()
    }
    total = sum(label_counts.values())

    chars = df["text"].str.len()
    words = df["text"].map(lambda t: len(t.split()))
    tokens, max_len, token_note = _token_lengths(texts, tokenizer_name)
    length: dict = {"chars": _stats(chars), "words": _stats(words), "per_label": {}}
    if tokens is not None:
        length["tokens"] = _stats(tokens)
        length["tokenizer"] = tokenizer_name
        length["model_max_length"] = max_len
        from llm_router.data.lengths import choose_max_length, truncation_cost

        choice = choose_max_length(tokens)
        # what truncation costs at the model profile's length and at the length `router train` would choose
        length["truncation"] = {
            "profile": truncation_cost(tokens, max_len),
            "chosen": truncation_cost(tokens, choice.max_length),
            "chosen_reason": choice.reason,
        }
    for lab in label_counts:
        mask = (df["label"] == lab).to_numpy()
        per = {"chars": _stats(chars[mask]), "words": _stats(words[mask])}
        if tokens is not None:
            per["tokens"] = _stats(np.asarray(tokens)[mask])
        length["per_label"][lab] = per

    script_counts = Counter(text_script(t) for t in texts)
    scripts = {
        s: {"rows": int(script_counts.get(s, 0)), "share": round(script_counts.get(s, 0) / total, 4)}
        for s in SCRIPTS
    }

    warns: list[str] = []
    if token_note:
        warns.append(token_note)
    for lab, n in sorted(dedup_counts.items(), key=lambda kv: kv[1]):
        if n < TINY_CLASS:
            warns.append(f"class '{lab}' has only {n} distinct examples: metrics on it will be noisy")
    dup_rows = len(df) - distinct
    if dup_rows / max(total, 1) >= HEAVY_DUPLICATION:
        warns.append(
            f"{dup_rows} duplicate rows ({dup_rows / total:.0%}): a random split without dedup leaks "
            "test queries into training"
        )
    if conflicting:
        warns.append(f"{conflicting} text(s) appear with different labels")
    imb = max(label_counts.values()) / min(label_counts.values())
    imb_dedup = max(dedup_counts.values()) / min(dedup_counts.values())
    if imb_dedup >= 3:
        warns.append(f"imbalance {imb_dedup:.1f}x after dedup: use class weights or over-sampling")
    if tokens is not None and max_len:
        over = sum(1 for n in tokens if n > max_len)
        if over:
            warns.append(
                f"{over} text(s) longer than the model's max length ({max_len} tokens) will be truncated"
            )

    return {
        "source": df.attrs.get("source"),
        "rows": int(len(df)),
        "distinct_texts": distinct,
        "duplicate_rows": int(dup_rows),
        "conflicting_duplicates": conflicting,
        "label_counts": label_counts,
        "label_shares": {k: round(v / total, 4) for k, v in label_counts.items()},
        "label_counts_dedup": dedup_counts,
        "imbalance_ratio": round(imb, 3),
        "imbalance_ratio_dedup": round(imb_dedup, 3),
        "length": length,
        "scripts": scripts,
        "warnings": warns,
    }


def print_analysis(result: dict, console: Console) -> None:
    """Rich tables for :func:`analyze_dataset`'s result."""
    head = Table(title=f"Dataset: {result.get('source')}", show_header=False)
    for key in (
        "rows",
        "distinct_texts",
        "duplicate_rows",
        "conflicting_duplicates",
        "imbalance_ratio",
        "imbalance_ratio_dedup",
    ):
        head.add_row(key, str(result[key]))
    console.print(head)

    labels = Table(title="Labels")
    for col in ("label", "rows", "share", "distinct"):
        labels.add_column(col, justify="right" if col != "label" else "left")
    for lab, n in result["label_counts"].items():
        labels.add_row(
            lab, str(n), f"{result['label_shares'][lab]:.1%}", str(result["label_counts_dedup"].get(lab, 0))
        )
    console.print(labels)

    length = result["length"]
    lt = Table(title="Text length (p50 / p95 / max)")
    lt.add_column("scope")
    units = ["chars", "words"] + (["tokens"] if "tokens" in length else [])
    for u in units:
        lt.add_column(u, justify="right")

    def fmt(s: dict) -> str:
        return f"{s['p50']:g} / {s['p95']:g} / {s['max']}"

    lt.add_row("all", *[fmt(length[u]) for u in units])
    for lab, per in length["per_label"].items():
        lt.add_row(lab, *[fmt(per[u]) for u in units])
    console.print(lt)
    if "truncation" in length:
        tt = Table(title="Truncation: what max_length costs")
        for col in ("max_length", "texts cut", "share cut", "tokens lost", "share of tokens"):
            tt.add_column(col, justify="right")
        for scope in ("profile", "chosen"):
            c = length["truncation"][scope]
            tt.add_row(
                f"{c['max_length']} ({'model profile' if scope == 'profile' else 'chosen from data'})",
                str(c["texts_cut"]),
                f"{c['share_cut']:.1%}",
                str(c["tokens_lost"]),
                f"{c['share_tokens_lost']:.1%}",
            )
        console.print(tt)
        console.print(f"router train: {length['truncation']['chosen_reason']}", highlight=False)

    st = Table(title="Scripts (dominant per text)")
    st.add_column("script")
    st.add_column("rows", justify="right")
    st.add_column("share", justify="right")
    for s, v in result["scripts"].items():
        st.add_row(s, str(v["rows"]), f"{v['share']:.1%}")
    console.print(st)
    for w in result["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
