"""`router calibrate` and the calibration part of `router eval`: fit a temperature on a model's validation rows,
store it in the model folder (``calibration.json``, see docs/ARTEFACTS.md), and measure ECE / Brier / NLL
before (temperature 1) and after (the folder's temperature) on any labelled rows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llm_router.errors import RouterError
from llm_router.eval.calibration import (
    calibration_summary,
    fit_temperature,
    label_indices,
    negative_log_likelihood,
    route_probs,
)


def _labelled(predictor, logits: np.ndarray, labels) -> tuple[np.ndarray, np.ndarray]:
    y, keep = label_indices(list(labels), predictor.routes)
    if not keep.any():
        raise RouterError(f"none of the labels is one of the model's routes {predictor.routes}")
    return logits[keep], y[keep]


def calibration_report(
    predictor, logits: np.ndarray, labels, png: str | os.PathLike[str] | None = None, title: str = ""
) -> dict[str, Any]:
    """``{temperature, calibrated, before, after}``: :func:`calibration_summary` of the route probabilities at
    temperature 1 and at the predictor's temperature, on the rows whose label is a route; ``png`` draws the
    reliability diagram of both."""
    logits, y = _labelled(predictor, np.asarray(logits, dtype=np.float64), labels)
    matrix = None if predictor.labels == predictor.routes else predictor.info.route_matrix()
    temperature = float(getattr(predictor, "temperature", 1.0))
    bias = getattr(predictor, "logit_bias", None)
    calibrated = temperature != 1.0 or bias is not None
    before = calibration_summary(route_probs(logits, 1.0, matrix), y)
    after = calibration_summary(route_probs(logits, temperature, matrix, bias), y)
    out = {
        "temperature": temperature,
        "bias": None if bias is None else [float(b) for b in bias],
        "calibrated": calibrated,
        "before": before,
        "after": after,
    }
    if png:
        from llm_router.eval.plots import reliability_png

        reliability_png(before, after if calibrated else None, png, title=title)
        out["reliability_png"] = str(png)
    return out


def calibrate_model(
    model: str | os.PathLike[str],
    df: pd.DataFrame | None = None,
    *,
    threads: int | None = None,
    batch_size: int = 64,
    write: bool = True,
    bias: bool = False,
):
    """Fit the temperature of ``model`` (a folder or ``.onnx`` file) on ``df`` (columns text, label; ``None`` =
    the model's own validation split) and, with ``write``, store it in the folder; ``bias`` also fits a logit bias
    per label (method ``temperature+bias``). Returns the
    :class:`~llm_router.runtime.calibration.Calibration`."""
    from llm_router.eval.evaluate import held_out_split
    from llm_router.runtime import Predictor
    from llm_router.runtime.calibration import Calibration, write_calibration

    predictor = Predictor.load(model, threads=threads)
    if df is None:
        df = held_out_split(predictor.path, "val")
        where = f"val split of {df.attrs.get('source', 'the training data')}"
    else:
        where = str(df.attrs.get("source") or "given rows")
    if len(df) == 0:
        raise RouterError("no rows to calibrate on")
    logits = predictor.predict_logits(df["text"].astype(str).tolist(), batch_size=batch_size)
    logits, y = _labelled(predictor, np.asarray(logits, dtype=np.float64), df["label"])
    matrix = None if predictor.labels == predictor.routes else predictor.info.route_matrix()
    offsets = None
    if bias:
        from llm_router.eval.calibration import fit_temperature_bias

        temperature, offsets = fit_temperature_bias(logits, y, matrix)
    else:
        temperature = fit_temperature(logits, y, matrix)

    def measure(t: float, b=None) -> dict[str, float]:
        p = route_probs(logits, t, matrix, b)
        s = calibration_summary(p, y)
        return {"ece": s["ece"], "brier": s["brier"], "nll": negative_log_likelihood(p, y)}

    calibration = Calibration(
        temperature=round(temperature, 6),
        method="temperature+bias" if bias else "temperature",
        bias=None if offsets is None else [round(float(b), 6) for b in offsets],
        fitted_on=f"{where} ({len(y)} rows)",
        n=int(len(y)),
        before=measure(1.0),
        after=measure(temperature, offsets),
    )
    if write:
        write_calibration(predictor.path, calibration)
    return calibration


def print_calibration(report: dict, console) -> None:
    """The before/after lines of :func:`calibration_report`."""
    b, a = report["before"], report["after"]
    console.print(
        f"calibration on {b['n']} rows (15 bins; ECE of a perfectly calibrated model on as many rows: "
        f"{a['ece_noise_floor']:.3f}): before ECE {b['ece']:.3f}, Brier {b['brier']:.3f}, NLL {b['nll']:.3f}"
        + (
            f"; after (temperature {report['temperature']:.3f}{' + bias' if report.get('bias') else ''}) ECE {a['ece']:.3f}, Brier {a['brier']:.3f}, "
            f"NLL {a['nll']:.3f}"
            if report["calibrated"]
            else "; the model has no calibration.json (router calibrate / router eval --calibrate)"
        ),
        highlight=False,
    )
    if report.get("reliability_png"):
        console.print(f"reliability diagram: {report['reliability_png']}", highlight=False)


def model_folder(model: str | os.PathLike[str]) -> Path:
    path = Path(model)
    return path.parent if path.is_file() else path
