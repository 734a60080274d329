"""`router eval`: score any model artefact (HF, ONNX, static) on labelled queries.

By default a model is scored on its own held-out test split: the data file named in ``router.json`` is re-loaded
and the rows whose text hash is in ``split.json``'s ``test`` list are kept. With explicit data, every row is scored
(and rows that the model was trained on are counted, so an optimistic score is visible).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llm_router.errors import RouterError


def _load_predictor(model, threads: int | None = None):
    if hasattr(model, "predict") and hasattr(model, "routes"):
        return model
    from llm_router.runtime import Predictor

    return Predictor.load(model, threads=threads)


def held_out_split(model_dir: str | os.PathLike[str], part: str = "test") -> pd.DataFrame:
    """The rows of a model's own data file that its ``split.json`` puts in ``part`` (test by default)."""
    from llm_router.persistence import (
        ROUTER_FILE,
        SPLIT_FILE,
        load_split_frame,
        read_router_json,
        read_split,
        split_part,
    )

    folder = Path(model_dir)
    if folder.is_file():
        folder = folder.parent
    split_path, router_path = folder / SPLIT_FILE, folder / ROUTER_FILE
    if not split_path.exists() or not router_path.exists():
        raise RouterError(
            f"{folder}: no split.json / router.json, so no held-out split is known: pass --data"
        )
    router = read_router_json(folder)
    path = (router.get("data") or {}).get("path")
    if not path:
        raise RouterError(f"{router_path}: names no data file (trained on an in-memory frame?): pass --data")
    if not Path(path).exists():
        raise RouterError(f"the model's data file {path} is gone: pass --data")
    split = read_split(folder)
    if not split.get(part):
        raise RouterError(f"{split_path}: the {part} split is empty: pass --data")
    frame = load_split_frame(router, path, with_gold=False)
    out, wanted = split_part(frame, split, part)
    if len(out) < wanted:
        raise RouterError(
            f"{path}: only {len(out)} of the {wanted} {part} rows in {split_path} were found "
            "(the data file changed since training): pass --data"
        )
    out = out.drop(columns=["route", "_hash"])
    out.attrs.update(frame.attrs)
    return out


def train_overlap(model_dir, df: pd.DataFrame) -> int | None:
    """How many rows of ``df`` the model was trained on (None when the folder has no split.json)."""
    from llm_router.persistence import read_split
    from llm_router.utils import text_hash

    folder = Path(model_dir)
    folder = folder.parent if folder.is_file() else folder
    split = read_split(folder)
    if split is None:
        return None
    seen = set(split.get("train") or []) | set(split.get("val") or [])
    return int(df["text"].map(text_hash).isin(seen).sum())


def evaluate(
    model,
    df: pd.DataFrame | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int = 64,
    threads: int | None = None,
    confusion_png: str | os.PathLike[str] | None = None,
    reliability_png: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Score ``model`` (a model folder / ``.onnx`` file, or a loaded :class:`~llm_router.runtime.Predictor`) on
    ``df`` (columns text, label; ``None`` = the model's own held-out test split).

    Returns :func:`~llm_router.eval.metrics.classification_report`'s dict plus ``model``, ``data``, ``split``
    (``test`` or ``all``), ``train_overlap`` (rows of ``df`` seen in training, when known) and, for a
    runtime Predictor, ``calibration`` (ECE / Brier before and after the folder's temperature, see
    :func:`~llm_router.eval.calibrate.calibration_report`; ``reliability_png`` draws its diagram)."""
    from llm_router.eval.metrics import classification_report

    predictor = _load_predictor(model, threads=threads)
    model_path = getattr(predictor, "path", None)
    if df is None:
        if model_path is None:
            raise RouterError("no data given and the predictor has no folder to find its held-out split in")
        df, split = held_out_split(model_path), "test"
    else:
        split = "all"
    if len(df) == 0:
        raise RouterError("no rows to evaluate")
    texts = df["text"].astype(str).tolist()
    logits = None
    if hasattr(predictor, "predict_logits"):  # one forward: raw logits for calibration, then the prediction
        logits = predictor.predict_logits(texts, batch_size=batch_size)
        pred = predictor.prediction_from_logits(logits)
    else:
        pred = predictor.predict(texts, batch_size=batch_size)
    routes = list(predictor.routes)
    extra = sorted(set(df["label"]) - set(routes))  # labels the model cannot predict: recall 0, kept visible
    probs = np.asarray(pred.route_probs, dtype=float)
    if extra:
        probs = np.hstack([probs, np.zeros((len(df), len(extra)))])
    report = classification_report(
        df["label"].tolist(),
        list(pred.routes),
        routes + extra,
        probs=probs,
        texts=texts,
        n_boot=n_boot,
        seed=seed,
    )
    report.update(
        {
            "model": None if model_path is None else str(model_path),
            "data": df.attrs.get("source"),
            "split": split,
            "train_overlap": None
            if (model_path is None or split == "test")
            else train_overlap(model_path, df),
            "unknown_labels": extra,
        }
    )
    if logits is not None:
        from llm_router.eval.calibrate import calibration_report

        report["calibration"] = calibration_report(
            predictor, logits, df["label"], reliability_png, title=f"reliability, n={len(df)}"
        )
        if getattr(predictor, "policy", None) is not None:
            report["policy"] = predictor.policy.policy.to_dict()
    if confusion_png:
        from llm_router.eval.plots import confusion_matrix_png

        confusion_matrix_png(
            report["confusion_matrix"],
            report["labels"],
            confusion_png,
            title=f"macro F1 {report['macro_f1']:.3f} (n={report['n']})",
        )
        report["confusion_png"] = str(confusion_png)
    return report


def print_report(report: dict, console, title: str = "evaluation") -> None:
    """Summary, per-class table, confusion matrix and the most confident misroutes, as rich tables."""
    from rich.table import Table

    lo, hi = report.get("macro_f1_ci95") or (None, None)
    ci = f" (95% CI {lo:.3f}-{hi:.3f})" if lo is not None else ""
    where = report.get("split", "")
    console.print(
        f"[bold]{title}[/] on {report['n']} rows{f' ({where} split)' if where == 'test' else ''}: "
        f"accuracy {report['accuracy']:.3f}, macro F1 {report['macro_f1']:.3f}{ci}, "
        f"weighted F1 {report['weighted_f1']:.3f}",
        highlight=False,
    )
    if report.get("train_overlap"):
        console.print(
            f"[yellow]warning:[/] {report['train_overlap']} of these rows were used to train the model",
            highlight=False,
        )
    per_class = Table("class", "precision", "recall", "F1", "support", title="per class")
    for label, row in report["per_class"].items():
        per_class.add_row(
            label, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"])
        )
    console.print(per_class)
    cm = Table("true \\ predicted", *report["labels"], title="confusion matrix")
    for label, row in zip(report["labels"], report["confusion_matrix"], strict=True):
        cm.add_row(label, *map(str, row))
    console.print(cm)
    if report.get("misroutes"):
        mis = Table("text", "true", "predicted", "confidence", title="most confident misroutes")
        for m in report["misroutes"]:
            conf = "" if m["confidence"] is None else f"{m['confidence']:.2f}"
            mis.add_row((m["text"] or "")[:80], m["true"], m["pred"], conf)
        console.print(mis)
    if report.get("confusion_png"):
        console.print(f"confusion matrix figure: {report['confusion_png']}", highlight=False)
    if report.get("calibration"):
        from llm_router.eval.calibrate import print_calibration

        print_calibration(report["calibration"], console)
    if report.get("policy"):
        console.print(
            f"routes decided by the folder's policy: rule {report['policy']['rule']}", highlight=False
        )
