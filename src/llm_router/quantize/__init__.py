"""Quantisation stage: `router quantize` (ONNX export, parity check, graph optimisation, INT8 / fp16, accuracy gate).

Heavy imports (torch, onnxruntime, optimum) happen inside the functions.
"""

from llm_router.quantize.core import (
    GATE_EXIT_CODE,
    GateRejected,
    QuantizeConfig,
    QuantizeResult,
    macro_f1,
    quantize_model,
    read_texts,
)
from llm_router.quantize.exporters import convert_fp16, export_onnx, logit_parity, optimize_onnx
from llm_router.quantize.int8 import TextCalibrationReader, quantize_dynamic_int8, quantize_static_int8

__all__ = [
    "GATE_EXIT_CODE",
    "GateRejected",
    "QuantizeConfig",
    "QuantizeResult",
    "TextCalibrationReader",
    "convert_fp16",
    "export_onnx",
    "logit_parity",
    "macro_f1",
    "optimize_onnx",
    "quantize_dynamic_int8",
    "quantize_model",
    "quantize_static_int8",
    "read_texts",
]
