"""Runtime: load any model artefact and route texts with it (`Predictor.load(path, device, threads)`).

Backends: `TorchPredictor` (HF folder), `OnnxPredictor` (ONNX Runtime), `StaticPredictor` (model2vec + linear head),
`LinearPredictor` (TF-IDF + linear head).
Backends are imported lazily, so importing this package does not import torch or onnxruntime.
"""

from llm_router.persistence import RouterInfo, read_router_info
from llm_router.runtime.predictor import Prediction, Predictor, default_threads
from llm_router.utils.probs import route_matrix, softmax

__all__ = [
    "LinearPredictor",
    "OnnxPredictor",
    "Prediction",
    "Predictor",
    "RouterInfo",
    "StaticPredictor",
    "TorchPredictor",
    "default_threads",
    "read_router_info",
    "route_matrix",
    "softmax",
]


def __getattr__(name: str):
    if name == "TorchPredictor":
        from llm_router.runtime.torch_backend import TorchPredictor

        return TorchPredictor
    if name == "OnnxPredictor":
        from llm_router.runtime.onnx_backend import OnnxPredictor

        return OnnxPredictor
    if name == "LinearPredictor":
        from llm_router.runtime.linear_backend import LinearPredictor

        return LinearPredictor
    if name == "StaticPredictor":
        from llm_router.runtime.static_backend import StaticPredictor

        return StaticPredictor
    raise AttributeError(f"module 'llm_router.runtime' has no attribute {name!r}")
