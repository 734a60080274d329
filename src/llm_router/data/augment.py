"""Data augmentation for short multilingual queries - for the training split only, never validation or test.

Offline augmenters (no model, any script, tuned for Korean/Japanese/English queries of a few words):

- ``typo``: one or two character edits - delete, duplicate, swap neighbours, a QWERTY-neighbour key for Latin
  letters, and for Hangul a changed vowel or final consonant (batchim) inside the syllable.
- ``spacing``: Korean-style spacing variation - join two words or split a word between two characters.
- ``swap``: swap two neighbouring words.
- ``drop``: drop one word (texts of three words or more).
- ``punct``: punctuation and casing noise - add/remove/replace the final ``?.!~``, lower/upper/title-case Latin.

Model-based augmenters (any Hugging Face seq2seq model, by hub id or local folder, for users who have one):

- ``paraphrase@MODEL``: sampled generations of a paraphrase model.
- ``backtranslate@FORWARD+BACKWARD``: translate to a pivot language with FORWARD, back with BACKWARD (sampled);
  one model name means the same model both ways.

A spec lists augmenters and copies per minority example: ``"typo:2,spacing:1,swap:1"`` or
``"typo:1,backtranslate:1@Helsinki-NLP/opus-mt-ko-en+Helsinki-NLP/opus-mt-en-ko"``. Results are deterministic for a
seed (each text's random stream is derived from the seed, the augmenter and the text itself, so it does not depend
on row order). Generated texts equal to an existing text (or to any of ``exclude_texts``, e.g. the test split) are
dropped.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from llm_router.errors import RouterError
from llm_router.utils.hashing import normalise_text

# ------------------------------------------------------------------------------------------- offline augmenters
_QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_QWERTY_NEIGHBOURS: dict[str, str] = {}
for _row_i, _row in enumerate(_QWERTY_ROWS):
    for _i, _ch in enumerate(_row):
        near = _row[max(0, _i - 1) : _i] + _row[_i + 1 : _i + 2]
        for _other in (_row_i - 1, _row_i + 1):
            if 0 <= _other < len(_QWERTY_ROWS):
                near += _QWERTY_ROWS[_other][max(0, _i - 1) : _i + 1]
        _QWERTY_NEIGHBOURS[_ch] = near

_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
# Vowels that sit next to each other on the Korean 2-set keyboard or sound alike (indices into the 21 medials).
_HANGUL_VOWEL_NEAR = {
    0: (1, 4),
    1: (0, 5),
    4: (0, 5, 6),
    5: (1, 4),
    8: (13, 18),
    13: (8, 18),
    18: (13, 20),
    20: (18, 19),
    2: (0, 6),
    6: (2, 4),
}
_END_PUNCT = "?.!~？。！"
_LATIN = re.compile(r"[A-Za-z]")


def _is_hangul(ch: str) -> bool:
    return _HANGUL_FIRST <= ord(ch) <= _HANGUL_LAST


def _hangul_typo(ch: str, rng: random.Random) -> str:
    idx = ord(ch) - _HANGUL_FIRST
    lead, vowel, tail = idx // 588, (idx % 588) // 28, idx % 28
    if vowel in _HANGUL_VOWEL_NEAR and rng.random() < 0.5:
        vowel = rng.choice(_HANGUL_VOWEL_NEAR[vowel])
    else:  # add, drop or change the final consonant
        tail = 0 if tail else rng.choice((4, 8, 16, 17, 21))  # ㄴ ㄹ ㅁ ㅂ ㅇ
    return chr(_HANGUL_FIRST + (lead * 21 + vowel) * 28 + tail)


def typo(text: str, rng: random.Random) -> str | None:
    """One edit per ~12 characters (at least one) at positions that hold a letter, not a space."""
    chars = list(text)
    positions = [i for i, c in enumerate(chars) if not c.isspace()]
    if len(positions) < 3:
        return None
    for _ in range(max(1, len(positions) // 12)):
        positions = [i for i, c in enumerate(chars) if not c.isspace()]
        i = rng.choice(positions)
        ch = chars[i]
        ops = ["delete", "duplicate", "swap"]
        if _is_hangul(ch):
            ops += ["hangul", "hangul"]
        elif ch.lower() in _QWERTY_NEIGHBOURS:
            ops += ["key", "key"]
        op = rng.choice(ops)
        if op == "delete" and len(positions) > 3:
            del chars[i]
        elif op == "duplicate":
            chars.insert(i, ch)
        elif op == "swap" and i + 1 < len(chars) and not chars[i + 1].isspace():
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op == "hangul":
            chars[i] = _hangul_typo(ch, rng)
        elif op == "key":
            new = rng.choice(_QWERTY_NEIGHBOURS[ch.lower()])
            chars[i] = new.upper() if ch.isupper() else new
        else:
            chars.insert(i, ch)
    return "".join(chars)


def spacing(text: str, rng: random.Random) -> str | None:
    """Join two words (Korean users often drop spaces) or split a word between two letters."""
    words = text.split()
    can_join = len(words) >= 2
    splittable = [
        (w, j)
        for w, word in enumerate(words)
        for j in range(1, len(word))
        if word[j - 1].isalpha()
        and word[j].isalpha()
        and not (_LATIN.match(word[j - 1]) and _LATIN.match(word[j]))
    ]
    if not can_join and not splittable:
        return None
    if can_join and (not splittable or rng.random() < 0.5):
        w = rng.randrange(len(words) - 1)
        words[w : w + 2] = [words[w] + words[w + 1]]
    else:
        w, j = rng.choice(splittable)
        words[w : w + 1] = [words[w][:j], words[w][j:]]
    return " ".join(words)


def swap(text: str, rng: random.Random) -> str | None:
    """Swap two neighbouring words."""
    words = text.split()
    if len(words) < 2:
        return None
    i = rng.randrange(len(words) - 1)
    words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def drop(text: str, rng: random.Random) -> str | None:
    """Drop one word from texts of three words or more."""
    words = text.split()
    if len(words) < 3:
        return None
    del words[rng.randrange(len(words))]
    return " ".join(words)


def punct(text: str, rng: random.Random) -> str | None:
    """Change the final punctuation (add, remove, replace) and, for Latin letters, sometimes the casing."""
    body = text.rstrip(_END_PUNCT + " ")
    if not body:
        return None
    end = text[len(body) :].strip()
    choices = ["", "?", ".", "!", "~", "??"]
    new_end = rng.choice([c for c in choices if c != end])
    if _LATIN.search(body) and rng.random() < 0.4:
        body = rng.choice((str.lower, str.upper, str.capitalize))(body)
    return body + new_end


OFFLINE_AUGMENTERS: dict[str, Callable[[str, random.Random], str | None]] = {
    "typo": typo,
    "spacing": spacing,
    "swap": swap,
    "drop": drop,
    "punct": punct,
}
MODEL_AUGMENTERS = ("paraphrase", "backtranslate")


# ----------------------------------------------------------------------------------------- model-based ones
class Seq2SeqAugmenter:
    """Paraphrase or back-translate with Hugging Face seq2seq models (``AutoModelForSeq2SeqLM``).

    ``models`` is one model (paraphrase; or back-translation with one model both ways) or two (forward, backward).
    Generation is sampled (top-p) from a torch generator seeded per call, so results are deterministic."""

    def __init__(self, mode: str, models: Sequence[str], batch_size: int = 16, max_new_tokens: int = 64):
        if mode not in MODEL_AUGMENTERS:
            raise RouterError(f"unknown model augmenter {mode!r} (choose from {', '.join(MODEL_AUGMENTERS)})")
        if not models or len(models) > 2:
            raise RouterError(f"{mode} needs one or two model names after '@' (got {list(models)})")
        self.mode, self.batch_size, self.max_new_tokens = mode, batch_size, max_new_tokens
        self._loaded = [self._load(m) for m in models]

    @staticmethod
    def _load(name: str):
        from transformers import AutoModelForSeq2SeqLM

        from llm_router.utils import load_tokenizer

        try:
            tokenizer = load_tokenizer(name)
            model = AutoModelForSeq2SeqLM.from_pretrained(name).eval()
        except (OSError, ValueError) as exc:
            raise RouterError(
                f"cannot load seq2seq model {name!r} for augmentation: {str(exc).splitlines()[0]}"
            ) from None
        return tokenizer, model

    def _generate(
        self, which: int, texts: list[str], copies: int, sample: bool, seed: int
    ) -> list[list[str]]:
        import torch

        tokenizer, model = self._loaded[which]
        out: list[list[str]] = [[] for _ in texts]
        todo = [
            i for i, t in enumerate(texts) if str(t).strip()
        ]  # e.g. an empty pivot translation: no variants
        for start in range(0, len(todo), self.batch_size):
            rows = todo[start : start + self.batch_size]
            batch = [texts[i] for i in rows]
            enc = tokenizer(batch, return_tensors="pt", padding=True, truncation=True, max_length=128)
            enc = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask")}
            torch.manual_seed(seed + start)
            with torch.inference_mode():
                gen = model.generate(
                    **enc,
                    do_sample=sample,
                    top_p=0.9 if sample else None,
                    num_beams=1,
                    num_return_sequences=copies,
                    max_new_tokens=self.max_new_tokens,
                )
            decoded = tokenizer.batch_decode(gen, skip_special_tokens=True)
            for k, i in enumerate(rows):
                out[i] = decoded[k * copies : (k + 1) * copies]
        return out

    def __call__(self, texts: list[str], copies: int, seed: int) -> list[list[str]]:
        if not texts:
            return []
        if self.mode == "paraphrase":
            return self._generate(0, texts, copies, sample=True, seed=seed)
        pivots = [p[0] if p else "" for p in self._generate(0, texts, 1, sample=False, seed=seed)]
        return self._generate(len(self._loaded) - 1, pivots, copies, sample=True, seed=seed + 1)


# ------------------------------------------------------------------------------------------------------ spec
@dataclass(frozen=True)
class AugmentStep:
    name: str
    copies: int = 1
    models: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.name}:{self.copies}" + (f"@{'+'.join(self.models)}" if self.models else "")


def parse_augment_spec(spec: str | None) -> list[AugmentStep]:
    """``"typo:2,spacing:1,backtranslate:1@fwd+bwd"`` -> steps. Empty / ``none`` -> no augmentation."""
    if not spec or spec.strip().lower() in ("none", "off", "0"):
        return []
    steps = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        head, _, model_part = item.partition("@")
        name, _, copies_s = head.partition(":")
        name = name.strip().lower()
        try:
            copies = int(copies_s) if copies_s.strip() else 1
        except ValueError:
            raise RouterError(f"--augment: bad copy count in {item!r} (expected NAME:COPIES)") from None
        if copies < 0:
            raise RouterError(f"--augment: negative copy count in {item!r}")
        known = sorted(OFFLINE_AUGMENTERS) + list(MODEL_AUGMENTERS)
        if name not in known:
            raise RouterError(f"--augment: unknown augmenter {name!r} (known: {', '.join(known)})")
        models = tuple(m.strip() for m in model_part.split("+") if m.strip()) if model_part else ()
        if name in MODEL_AUGMENTERS and not models:
            raise RouterError(f"--augment: {name} needs a model, e.g. {name}:1@MODEL_NAME")
        if name in OFFLINE_AUGMENTERS and models:
            raise RouterError(f"--augment: {name} takes no model (got @{model_part})")
        if copies:
            steps.append(AugmentStep(name, copies, models))
    return steps


def _variants(fn, text: str, copies: int, rng: random.Random) -> list[str]:
    """Up to ``copies`` distinct variants different from ``text`` (a few extra tries for collisions)."""
    seen, out = {normalise_text(text)}, []
    for _ in range(copies * 4):
        if len(out) == copies:
            break
        new = fn(text, rng)
        if new is None:
            break
        key = normalise_text(new)
        if key and key not in seen:
            seen.add(key)
            out.append(new)
    return out


def augment_dataframe(
    df: pd.DataFrame,
    spec: str | Sequence[AugmentStep] | None,
    seed: int = 0,
    label_col: str = "label",
    scope: str = "minority",
    exclude_texts: Iterable[str] = (),
) -> pd.DataFrame:
    """Return ``df`` plus augmented copies of its rows (column ``augmented`` names the augmenter, "" for originals).

    ``scope="minority"`` augments rows of every class smaller than the largest class (by ``label_col``);
    ``"all"`` augments every row. Pass only the training split. Texts that equal an existing row or any of
    ``exclude_texts`` (give the validation and test texts) are never produced."""
    steps = parse_augment_spec(spec) if isinstance(spec, str) or spec is None else list(spec)
    base = df.assign(augmented="")
    if not steps or df.empty:
        return base
    if scope not in ("minority", "all"):
        raise RouterError(f"unknown augmentation scope {scope!r} (minority or all)")
    counts = df[label_col].value_counts()
    chosen = df[df[label_col].map(counts) < counts.max()] if scope == "minority" else df
    taken = {normalise_text(t) for t in df["text"]} | {normalise_text(t) for t in exclude_texts}
    new_rows = []
    for step in steps:
        texts = chosen["text"].tolist()
        if step.name in OFFLINE_AUGMENTERS:
            fn = OFFLINE_AUGMENTERS[step.name]
            generated = [
                _variants(fn, t, step.copies, random.Random(f"{seed}|{step.name}|{t}")) for t in texts
            ]
        else:
            generated = Seq2SeqAugmenter(step.name, step.models)(texts, step.copies, seed)
        for (_, row), variants in zip(chosen.iterrows(), generated, strict=True):
            for text in variants:
                text = " ".join(str(text).split())
                key = normalise_text(text)
                if not key or key in taken:
                    continue
                taken.add(key)
                new_rows.append({**row.to_dict(), "text": text, "augmented": step.name})
    if not new_rows:
        return base
    out = pd.concat([base, pd.DataFrame(new_rows, columns=base.columns)], ignore_index=True)
    out.attrs.update(df.attrs)
    return out
