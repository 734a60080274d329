"""`--backend inc`: Intel Neural Compressor's accuracy-aware post-training quantisation of the ONNX model.

INC's ONNX Runtime support lives in the ``onnx-neural-compressor`` package (``neural-compressor`` 3.x itself only
covers PyTorch / TensorFlow). Its ``autotune`` tries quantisation recipes (per-channel or per-tensor weights,
calibration methods for static) and stops at the first whose validation F1 is within the tolerance of the float
model's, measured by our own evaluation function. Optional: ``pip install 'llm-router[inc]'``.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable
from pathlib import Path

from llm_router.errors import RouterError

INSTALL_HINT = "--backend inc needs Intel Neural Compressor for ONNX: pip install 'llm-router[inc]'"


def inc_available() -> bool:
    try:
        from onnx_neural_compressor.quantization import tuning  # noqa: F401
    except Exception:  # not installed, or installed against an incompatible numpy / onnxruntime
        return False
    return True


def require_inc() -> None:
    if not inc_available():
        raise RouterError(INSTALL_HINT)


def _reader_class():
    from onnx_neural_compressor.data_reader import CalibrationDataReader

    class TextReader(CalibrationDataReader):
        def __init__(self, reader):
            self.reader = reader

        def get_next(self):
            return self.reader.get_next()

        def rewind(self):
            self.reader.rewind()

    return TextReader


def quantize_with_inc(
    float_file: str | Path,
    out_file: str | Path,
    *,
    evaluate: Callable[[Path], float],
    baseline_f1: float,
    reader,
    static: bool,
    tolerance_points: float,
    calibrate_method: str = "minmax",
    max_trials: int = 20,
) -> tuple[int, bool]:
    """Accuracy-aware tuning. ``evaluate(onnx_file) -> macro F1 in points``; ``baseline_f1`` is the float model's.
    INC tries per-channel and per-tensor weights (static: with ``calibrate_method``), in its own order.

    INC's tolerance is relative to the baseline, so the absolute ``tolerance_points`` is converted. Returns
    ``(recipes tried, found)``; ``found`` is False (and nothing is written) when no recipe met the tolerance.
    """
    require_inc()
    import onnx
    from onnx_neural_compressor.quantization import QuantFormat, config, tuning

    if static:
        from onnxruntime.quantization import CalibrationMethod

        calibrate_method = {
            "minmax": CalibrationMethod.MinMax,
            "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile,
        }[calibrate_method]
        recipes = config.StaticQuantConfig(
            calibration_data_reader=_reader_class()(reader),
            quant_format=QuantFormat.QDQ,
            per_channel=[True, False],
            calibrate_method=calibrate_method,
            execution_provider="CPUExecutionProvider",
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    else:
        recipes = config.DynamicQuantConfig(
            per_channel=[True, False],
            execution_provider="CPUExecutionProvider",
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    relative = max(tolerance_points, 0.0) / baseline_f1 if baseline_f1 > 0 else 0.0
    tune_config = tuning.TuningConfig(config_set=[recipes], tolerable_loss=relative, max_trials=max_trials)
    trials = -1  # INC's first evaluation is of the float baseline

    def eval_fn(model_path: str) -> float:
        nonlocal trials
        trials += 1
        return float(evaluate(Path(model_path)))

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            previous = logging.root.manager.disable
            logging.disable(logging.ERROR)  # INC logs every trial (and harmless errors) at length
            try:
                best = tuning.autotune(
                    str(float_file),
                    tune_config,
                    eval_fn=eval_fn,
                    calibration_data_reader=_reader_class()(reader) if static else None,
                )
            finally:
                logging.disable(previous)
    except SystemExit:  # autotune calls exit(0) when no recipe meets the goal
        best = None
    except Exception as exc:
        raise RouterError(
            f"Intel Neural Compressor failed on this model ({' '.join(str(exc).split())[:300]})"
        ) from None
    if best is None:
        return trials, False
    onnx.save(best, str(out_file))
    return trials, True
