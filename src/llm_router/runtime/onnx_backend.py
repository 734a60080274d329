"""`OnnxPredictor`: an ONNX folder (float, INT8 or fp16 file) through ONNX Runtime.

A dynamic INT8 file quantises each MatMul's input with one scale per tensor, computed at run time over the whole
batch: padding and the other texts of a batch change a text's logits. On the demo set's test texts 2 of 122
student-int8 routes and 5 of 122 teacher-int8 routes differed between one text at a time and batches of 64 (top
probability moved by up to 0.46), so a served route depended on which requests happened to share its micro-batch,
and a cascade's thresholds met other probabilities than they were chosen on. On the CPU such a file therefore runs
one text per session call (``per_text``, on by default for ``quantization: int8-dynamic``): its answer is the same
in every batch. It costs no throughput here: with padding, batches of 32 were no faster per text than single texts
on this 2-core CPU (demo student-int8 382 texts/s at batch 32 against 2.3 ms per text alone; RouterBench
teacher-int8 69 texts/s against 10.2 ms).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from llm_router.errors import RouterError
from llm_router.persistence import RouterInfo
from llm_router.runtime.predictor import Predictor
from llm_router.runtime.tokenize import FastTokenizer

# dynamic INT8 (one activation scale per call) and blockwise INT8 (per token block; batch and per-text
# probabilities still differed by up to 0.05 on the seed teacher's test texts, no route) run one text per call
PER_TEXT_QUANTIZATION = ("int8-dynamic", "int8-blockwise")


def session_options(threads: int, optimization: str = "all", config: dict[str, str] | None = None):
    """Explicit thread settings (``intra_op = threads``, ``inter_op = 1``, sequential execution) and full graph
    optimisation. ``config`` adds session config entries, e.g. ``{"session.intra_op.allow_spinning": "0"}``."""
    import onnxruntime as ort

    levels = {
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if optimization not in levels:
        raise RouterError(
            f"unknown ONNX Runtime optimisation level {optimization!r} (choose from {', '.join(levels)})"
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = levels[optimization]
    options.log_severity_level = 3
    for key, value in (config or {}).items():
        options.add_session_config_entry(key, str(value))
    return options


def providers_for(device: str) -> list:
    import onnxruntime as ort

    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise RouterError(
                "device cuda: this onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu)"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxPredictor(Predictor):
    """ONNX Runtime ``InferenceSession`` over the file named by ``router.json:onnx_file`` (or ``onnx_file``)."""

    kind = "onnx"

    def __init__(
        self,
        path: str | Path,
        info: RouterInfo,
        *,
        device: str = "cpu",
        threads: int | None = None,
        onnx_file: str | None = None,
        optimization: str = "all",
        session_config: dict[str, str] | None = None,
        per_text: bool | None = None,
    ):
        super().__init__(path, info, device=device, threads=threads)
        import onnxruntime as ort

        onnx_file = onnx_file or info.onnx_file
        if onnx_file is None:
            found = sorted(p.name for p in self.path.glob("*.onnx"))
            if not found:
                raise RouterError(f"{self.path}: no .onnx file (export one with `router quantize`)")
            onnx_file = "model.onnx" if "model.onnx" in found else found[0]
        self.onnx_file = onnx_file
        # batch-independent answers for a dynamic INT8 file on the CPU (module docstring)
        if per_text is None:
            served = info.raw.get("onnx_file") == onnx_file  # router.json's quantization is that file's
            per_text = (
                served and info.raw.get("quantization") in PER_TEXT_QUANTIZATION and self.device == "cpu"
            )
        self.per_text = bool(per_text)
        model_path = self.path / onnx_file
        if not model_path.exists():
            raise RouterError(f"{model_path}: no such ONNX file")
        self.tokenizer = FastTokenizer.from_folder(self.path, self.max_length, self.text_prefix)
        try:
            self.session = ort.InferenceSession(
                str(model_path),
                session_options(self.threads, optimization, session_config),
                providers=providers_for(self.device),
            )
        except RouterError:
            raise
        except Exception as exc:
            raise RouterError(
                f"{model_path}: ONNX Runtime cannot load it ({' '.join(str(exc).split())[:300]})"
            ) from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        unknown = set(self.input_names) - {"input_ids", "attention_mask", "token_type_ids"}
        if unknown:
            raise RouterError(f"{model_path}: unexpected model inputs {sorted(unknown)}")
        self.output_name = self.session.get_outputs()[0].name
        n_out = self.session.get_outputs()[0].shape[-1]
        if isinstance(n_out, int) and n_out != len(self.labels):
            raise RouterError(f"{model_path}: {n_out} outputs but router.json has {len(self.labels)} labels")

    @property
    def name(self) -> str:
        return f"{self.path.name}/{self.onnx_file}"

    def _logits(self, texts: Sequence[str]) -> np.ndarray:
        if self.per_text and len(texts) > 1:
            return np.concatenate([self._run(texts[i : i + 1]) for i in range(len(texts))])
        return self._run(texts)

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        features = self.tokenizer.encode(texts)
        feeds = {name: features[name] for name in self.input_names}
        return self.session.run([self.output_name], feeds)[0]
