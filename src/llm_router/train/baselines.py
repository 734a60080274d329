"""Baselines as candidates: TF-IDF + logistic regression and frozen-encoder embeddings + logistic regression.

Both train on the teacher's own split (``split.json``), so their validation and test scores sit beside the
teacher's. On prompts whose route shows in their form (answer-choice layouts, code, formatting) a linear TF-IDF
model can beat a fine-tuned encoder; it is also tiny and sub-millisecond, so it is written as a servable model
folder (``kind: linear``, read by :class:`llm_router.runtime.linear_backend.LinearPredictor`).

Recipe, as named steps: :func:`fit_tfidf` (regularisation chosen on the validation split), :func:`write_linear_folder`,
:func:`frozen_embedding_scores`, and :func:`run_baselines`, which does all of it for a teacher folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from llm_router.errors import RouterError

ROUTER_FORMAT = "llm-router/1"


@dataclass
class BaselineConfig:
    """How the baselines are fitted. Every field has a working default."""

    tfidf: bool = True  # TF-IDF + logistic regression (a servable `kind: linear` folder)
    frozen: bool = True  # frozen teacher-base-encoder embeddings + logistic regression (scores only)
    analyzer: str = "char_wb"  # sklearn TfidfVectorizer analyzer: char_wb | char | word
    ngram_min: int = 1
    ngram_max: int = 4
    max_features: int = 200_000
    c_grid: tuple[float, ...] = (
        1.0,
        3.0,
        10.0,
        30.0,
    )  # inverse regularisation, chosen on validation macro F1
    class_weight: str | None = "balanced"
    seed: int = 42


def make_tfidf(config: BaselineConfig):
    """The TF-IDF vectoriser of ``config`` (char n-grams by default)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer=config.analyzer,
        ngram_range=(config.ngram_min, config.ngram_max),
        sublinear_tf=True,
        max_features=config.max_features,
        dtype=np.float32,
    )


def _logistic(c: float, config: BaselineConfig):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=3000, class_weight=config.class_weight, random_state=config.seed)


def _macro_f1(y_true, y_pred) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def fit_linear_head(x_train, y_train, x_val, y_val, config: BaselineConfig):
    """A logistic regression on fixed features, its C chosen on the validation split (the first of the grid when
    there is no validation split). Returns ``(classifier, chosen C, validation macro F1 or None)``."""
    grid = config.c_grid if len(y_val) else config.c_grid[:1]
    best = None
    for c in grid:
        clf = _logistic(c, config).fit(x_train, y_train)
        score = _macro_f1(y_val, clf.predict(x_val)) if len(y_val) else None
        if best is None or (score is not None and score > best[2] + 1e-12):
            best = (clf, c, score)
    return best


def fit_tfidf(train_texts, train_labels, val_texts, val_labels, config: BaselineConfig):
    """TF-IDF fitted on the training texts + a logistic regression: ``(vectoriser, classifier, C, val F1)``."""
    vectorizer = make_tfidf(config)
    x_train = vectorizer.fit_transform(list(train_texts))
    x_val = vectorizer.transform(list(val_texts)) if len(val_texts) else None
    clf, c, val_f1 = fit_linear_head(x_train, list(train_labels), x_val, list(val_labels), config)
    return vectorizer, clf, c, val_f1


def write_linear_folder(
    out: Path, vectorizer, clf, *, routes: Sequence[str], data: dict | None, split: dict | None, notes: dict
) -> None:
    """A ``kind: linear`` model folder in ``out`` (an atomic temp folder): ``router.json``, ``tfidf.json`` (the
    vectoriser's parameters and vocabulary), ``idf.npy`` and ``head.npz`` (``coef`` [n_labels, n_features],
    ``intercept`` [n_labels], in ``labels`` order)."""
    from llm_router.utils import atomic_write_json

    labels = [str(c) for c in clf.classes_]
    coef, intercept = clf.coef_, clf.intercept_
    if coef.shape[0] == 1:  # binary logistic regression: one row for the second class; make it two logits
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    params = {
        "analyzer": vectorizer.analyzer,
        "ngram_range": list(vectorizer.ngram_range),
        "lowercase": vectorizer.lowercase,
        "sublinear_tf": vectorizer.sublinear_tf,
        "norm": vectorizer.norm,
        "vocabulary": {term: int(i) for term, i in vectorizer.vocabulary_.items()},
    }
    (out / "tfidf.json").write_text(json.dumps(params, ensure_ascii=False), encoding="utf-8")
    np.save(out / "idf.npy", vectorizer.idf_.astype(np.float32))
    np.savez(out / "head.npz", coef=coef.astype(np.float32), intercept=intercept.astype(np.float32))
    atomic_write_json(
        out / "router.json",
        {
            "format": ROUTER_FORMAT,
            "kind": "linear",
            "labels": labels,
            "routes": list(routes),
            "route_map": None,
            "text_prefix": "",
            "max_length": None,
            "base_model": f"tfidf-{vectorizer.analyzer}-{vectorizer.ngram_range[0]}-{vectorizer.ngram_range[1]}",
            "onnx_file": None,
            "data": data,
            "created_by": "router train --baselines",
            "notes": notes,
        },
    )
    if split is not None:
        atomic_write_json(out / "split.json", split)


def frozen_embedder(model: str, batch_size: int = 64):
    """``embed(texts) -> [n, hidden]``: mean-pooled, L2-normalised outputs of the frozen encoder ``model`` (its
    profile's text prefix and max length)."""
    import torch
    from transformers import AutoModel

    from llm_router.models import model_profile, resolve
    from llm_router.utils import load_tokenizer

    path, profile = resolve(model), model_profile(model)
    tokenizer, encoder = load_tokenizer(path), AutoModel.from_pretrained(path).eval()

    def embed(texts: list[str]) -> np.ndarray:
        out = [np.zeros((0, encoder.config.hidden_size), dtype=np.float32)]
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                enc = tokenizer(
                    [profile.text_prefix + t for t in texts[i : i + batch_size]],
                    padding=True,
                    truncation=True,
                    max_length=profile.max_length,
                    return_tensors="pt",
                )
                hidden = encoder(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).float()
                vec = (hidden * mask).sum(1) / mask.sum(1)
                out.append(torch.nn.functional.normalize(vec, dim=-1).numpy())
        return np.concatenate(out)

    return embed


def frozen_embedding_scores(
    model: str, train, val, test, config: BaselineConfig, batch_size: int = 64
) -> dict:
    """Mean-pooled, normalised embeddings of the frozen encoder ``model`` + logistic regression (C chosen on the
    validation split): validation and test macro F1."""
    embed = frozen_embedder(model, batch_size)
    x_train, x_val, x_test = (embed(df["text"].tolist()) for df in (train, val, test))
    clf, c, val_f1 = fit_linear_head(x_train, train["label"].tolist(), x_val, val["label"].tolist(), config)
    test_f1 = _macro_f1(test["label"].tolist(), clf.predict(x_test)) if len(test) else None
    return {"model": model, "C": c, "val_macro_f1": val_f1, "test_macro_f1": test_f1}


def run_baselines(
    teacher_dir: str | Path, tfidf_out: str | Path | None, config: BaselineConfig | None = None
) -> dict:
    """Fit the baselines on ``teacher_dir``'s split, write the TF-IDF folder to ``tfidf_out`` (atomically) and
    ``baselines.json`` into the teacher folder. Returns that JSON: each baseline's validation/test macro F1 and
    the teacher's validation macro F1 beside them."""
    from llm_router.persistence import load_folder_data
    from llm_router.utils import atomic_output_dir, atomic_write_json, read_json

    config = config or BaselineConfig()
    folder = load_folder_data(teacher_dir)
    if folder.router.get("route_map"):
        raise RouterError("baselines need a route-level teacher (no route_map)")
    train, val, test = folder.train, folder.val, folder.test
    routes = list(folder.router["routes"])
    result: dict = {"split": {"train": len(train), "val": len(val), "test": len(test)}, "baselines": {}}
    teacher_val = _teacher_val_f1(Path(teacher_dir))
    if teacher_val is not None:
        result["teacher_val_macro_f1"] = teacher_val
    if config.tfidf:
        vectorizer, clf, c, val_f1 = fit_tfidf(
            train["text"], train["label"], val["text"], val["label"], config
        )
        test_f1 = (
            _macro_f1(test["label"], clf.predict(vectorizer.transform(test["text"]))) if len(test) else None
        )
        row = {
            "C": c,
            "val_macro_f1": val_f1,
            "test_macro_f1": test_f1,
            "features": len(vectorizer.vocabulary_),
        }
        if tfidf_out is not None:
            with atomic_output_dir(tfidf_out) as tmp:
                write_linear_folder(
                    tmp,
                    vectorizer,
                    clf,
                    routes=routes,
                    data=folder.router.get("data"),
                    split=read_json(Path(teacher_dir) / "split.json"),
                    notes={"C": c, "config": asdict(config)},
                )
            row["folder"] = str(tfidf_out)
        result["baselines"]["tfidf"] = row
    if config.frozen:
        base = folder.router.get("base_model")
        try:
            result["baselines"]["frozen"] = frozen_embedding_scores(base, train, val, test, config)
        except RouterError as exc:  # an encoder that cannot be resolved offline: say so, keep the rest
            result["baselines"]["frozen"] = {"model": base, "error": str(exc)}
    result["verdict"] = verdict(result)
    atomic_write_json(Path(teacher_dir) / "baselines.json", result)
    return result


def _teacher_val_f1(teacher_dir: Path) -> float | None:
    """The teacher's validation macro F1 for the weights it kept (history.json): the best epoch when it selected
    one (best epoch or early stopping), else the last validated row (the soup's, for a soup)."""
    history = teacher_dir / "history.json"
    if not history.exists():
        return None
    rows = [h for h in json.loads(history.read_text()) if h.get("val_macro_f1") is not None]
    if not rows:
        return None
    config_file = teacher_dir / "train_config.json"
    config = json.loads(config_file.read_text()) if config_file.exists() else {}
    keep_best = config.get("select_best_epoch") or config.get("early_stopping_patience")
    return max(h["val_macro_f1"] for h in rows) if keep_best else rows[-1]["val_macro_f1"]


def verdict(result: dict) -> str:
    """One line: does the teacher beat every baseline on validation?"""
    teacher = result.get("teacher_val_macro_f1")
    scores = {
        k: v.get("val_macro_f1") for k, v in result["baselines"].items() if v.get("val_macro_f1") is not None
    }
    if teacher is None or not scores:
        return "no validation scores (teacher without history.json, or no validation split): not compared"
    best = max(scores, key=scores.get)
    if teacher >= scores[best]:
        return f"teacher {teacher:.3f} beats the best baseline ({best} {scores[best]:.3f}) on validation"
    return f"the {best} baseline ({scores[best]:.3f}) beats the teacher ({teacher:.3f}) on validation"


def print_baselines(result: dict, console) -> None:
    """A table of the baselines beside the teacher, and the verdict."""
    from rich.table import Table

    table = Table(title="baselines on the teacher's split (macro F1)")
    for col in ("model", "validation", "test", "note"):
        table.add_column(col, justify="left" if col in ("model", "note") else "right")

    def fmt(value) -> str:
        return "-" if value is None else f"{value:.3f}"

    if "teacher_val_macro_f1" in result:
        table.add_row("teacher", fmt(result["teacher_val_macro_f1"]), "", "fine-tuned encoder")
    for name, row in result["baselines"].items():
        note = row.get("error") or (f"C={row['C']:g}" + (f", {row['folder']}" if row.get("folder") else ""))
        table.add_row(name, fmt(row.get("val_macro_f1")), fmt(row.get("test_macro_f1")), note)
    console.print(table)
    console.print(result["verdict"], highlight=False)
