"""The transfer set: the texts a student learns from - the teacher's training texts, augmented copies, mixed
pseudo-queries and unlabelled texts, never a validation or test text - each labelled softly by the teacher."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llm_router.distill.config import DistillConfig
from llm_router.errors import RouterError
from llm_router.persistence import FolderData, load_folder_data
from llm_router.utils import text_hash


def load_teacher_folder(
    teacher_dir: str | Path, data_path: str | Path | None = None, group_col: str | None = None
) -> FolderData:
    """A ``kind: hf`` teacher folder's ``router.json``, ``split.json`` and data, split exactly as it was trained
    (no group of ``group_col`` on two sides of it)."""
    return load_folder_data(teacher_dir, data_path, require_kind="hf", group_col=group_col)


def read_unlabeled(path: str | Path, column: str = "text") -> list[str]:
    """Texts of an unlabelled file: one per line for .txt, else ``column`` of any table ``read_table`` reads."""
    from llm_router.data import read_table

    path = Path(path)
    if path.suffix.lower() == ".txt":
        if not path.exists():
            raise RouterError(f"{path}: no such file")
        texts = path.read_text(encoding="utf-8").splitlines()
    else:
        df = read_table(path)
        if column not in df.columns:
            raise RouterError(f"{path}: no column '{column}' (columns: {', '.join(map(str, df.columns))})")
        texts = df[column].tolist()
    return [" ".join(str(t).split()) for t in texts if isinstance(t, str) and t.strip()]


@dataclass
class TransferSet:
    """Texts the student learns from; ``gold`` is a teacher-label index or -1 (unlabelled)."""

    texts: list[str]
    gold: np.ndarray
    source: list[str]  # "train" | augmenter name | "unlabeled"
    generated_note: str = ""  # why generated texts (augmented copies, mixed texts) joined or not

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.source:
            out[s] = out.get(s, 0) + 1
        return out

    def summary(self) -> dict[str, Any]:
        """What ``distill.json`` records: the size, the count per origin and ``generated`` (the reason)."""
        return {"n": len(self.texts), **self.counts(), "generated": self.generated_note}


def mixed_texts(texts: list[str], copies: int, seed: int = 0) -> list[str]:
    """Unlabelled pseudo-queries for the transfer set: for each text, ``copies`` variants that either replace one
    word with a word of another training text or splice the start of the text onto the end of another one (at a
    word boundary, or mid-text for unspaced scripts). They need not keep the label - the teacher labels them - but
    they probe the teacher between training examples, which is what a small student learns most from."""
    rng = random.Random(f"mix|{seed}")
    words = [w for t in texts for w in t.split()]
    out = []
    for text in texts:
        for _ in range(copies):
            other = texts[rng.randrange(len(texts))]
            parts = text.split()
            if len(parts) >= 2 and rng.random() < 0.5:
                parts[rng.randrange(len(parts))] = words[rng.randrange(len(words))]
                new = " ".join(parts)
            else:
                a_parts, b_parts = text.split(), other.split()
                if len(a_parts) >= 2 and len(b_parts) >= 2:
                    new = " ".join(
                        a_parts[: rng.randint(1, len(a_parts) - 1)]
                        + b_parts[rng.randint(1, len(b_parts) - 1) :]
                    )
                else:
                    cut_a = rng.randint(1, max(1, len(text) - 1))
                    cut_b = rng.randint(0, max(0, len(other) - 1))
                    new = text[:cut_a] + other[cut_b:]
            new = " ".join(new.split())
            if new and new != text:
                out.append(new)
    return out


def build_transfer_set(teacher: FolderData, config: DistillConfig) -> TransferSet:
    """Training texts + augmented copies + mixed texts + unlabelled texts, with every validation / test text
    removed. Augmented copies keep their source's gold label; mixed and unlabelled texts have none (-1). No
    augmented or mixed texts when the training split has ``config.generate_below`` texts or more."""
    from llm_router.data.augment import augment_dataframe

    held_out = set(teacher.split.get("val") or []) | set(teacher.split.get("test") or [])
    train = teacher.train[["text", "gold"]].rename(columns={"gold": "label"})
    exclude = list(teacher.val["text"]) + list(teacher.test["text"])
    generate = not config.generate_below or len(train) < config.generate_below
    if not config.augment and not config.mix:
        note = "no: --augment '' and --mix 0"
    elif not config.generate_below:
        note = "yes: --generate-below 0 (always)"
    elif generate:
        note = f"yes: {len(train)} training texts < --generate-below {config.generate_below}"
    else:
        note = f"no: {len(train)} training texts >= --generate-below {config.generate_below}"
    augment = config.augment if generate else ""
    augmented = augment_dataframe(train, augment, seed=config.seed, scope="all", exclude_texts=exclude)
    label_index = {label: i for i, label in enumerate(teacher.labels)}
    texts, gold, source, seen = [], [], [], set()

    def add(text: str, label: int, origin: str) -> None:
        h = text_hash(text)
        if h in held_out or h in seen:
            return
        seen.add(h)
        texts.append(text)
        gold.append(label)
        source.append(origin)

    for text, label, aug in zip(augmented["text"], augmented["label"], augmented["augmented"], strict=True):
        add(text, label_index[label], aug or "train")
    if config.mix and generate:
        for text in mixed_texts(list(teacher.train["text"]), config.mix, config.seed):
            add(text, -1, "mix")
    if config.unlabeled:
        for text in read_unlabeled(config.unlabeled, config.unlabeled_col):
            add(text, -1, "unlabeled")
    if config.max_transfer is not None and len(texts) > config.max_transfer:
        keep = [i for i, origin in enumerate(source) if origin == "train"]
        generated = [i for i, origin in enumerate(source) if origin != "train"]
        room = max(0, config.max_transfer - len(keep))
        rng = np.random.default_rng(config.seed)
        keep = sorted(keep + rng.choice(generated, size=min(room, len(generated)), replace=False).tolist())
        texts, gold, source = [texts[i] for i in keep], [gold[i] for i in keep], [source[i] for i in keep]
    return TransferSet(texts, np.asarray(gold, dtype=np.int64), source, note)
