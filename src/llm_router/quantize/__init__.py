"""Quantisation stage: `router quantize` (ONNX export, parity check, graph optimisation, INT8 / fp16, accuracy gate).

Heavy imports (torch, onnxruntime, optimum) happen inside the functions. The names below load their module on
first use, so ``llm_router.quantize.config`` (the options, which the command line reads at start-up) comes without
numpy and the exporters.
"""

from __future__ import annotations

from llm_router.utils.lazy import lazy_exports

_HOMES = {
    "QuantizeConfig": ".config",
    "GATE_EXIT_CODE": ".core",
    "GateRejected": ".core",
    "QuantizeResult": ".core",
    "macro_f1": ".core",
    "quantize_model": ".core",
    "read_texts": ".core",
    "convert_fp16": ".exporters",
    "export_onnx": ".exporters",
    "logit_parity": ".exporters",
    "optimize_onnx": ".exporters",
    "TextCalibrationReader": ".int8",
    "quantize_dynamic_int8": ".int8",
    "quantize_static_int8": ".int8",
}

__all__ = sorted(_HOMES)

__getattr__ = lazy_exports(__name__, _HOMES)
