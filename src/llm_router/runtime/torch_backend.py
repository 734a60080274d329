"""`TorchPredictor`: an HF sequence-classification folder through PyTorch.

CPU: eager, ``torch.inference_mode``, explicit thread count, dynamic shapes (padding to the longest text only).

CUDA: fp16 (default) or bf16 weights, and static shapes, because at batch 1 on an H100 eager time is kernel-launch
bound. Each batch is padded up to a (batch, sequence) bucket (:mod:`llm_router.runtime.buckets`) and then either

- ``static_shapes="graphs"`` (default on CUDA): one CUDA graph captured per bucket and replayed (the model is
  loaded with eager attention, whose mask handling has no host sync, so it can be captured), or
- ``static_shapes="compile"``: ``torch.compile(mode="reduce-overhead")`` (inductor kernels + CUDA graph trees).

``static_shapes="pad"`` runs the bucket padding without graphs (any device) and is what the CPU tests check.
"""

from __future__ import annotations

import inspect
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from llm_router.errors import RouterError
from llm_router.persistence import RouterInfo
from llm_router.runtime.buckets import BucketPlan
from llm_router.runtime.predictor import Predictor
from llm_router.runtime.tokenize import FastTokenizer

STATIC_MODES = ("off", "pad", "graphs", "compile")
DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}


def _from_pretrained_dtype_kwarg() -> str:
    """transformers >= 4.56 calls it ``dtype``; older versions ``torch_dtype``."""
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


class TorchPredictor(Predictor):
    """PyTorch backend for ``kind: hf`` folders."""

    kind = "hf"

    def __init__(
        self,
        path: str | Path,
        info: RouterInfo,
        *,
        device: str = "cpu",
        threads: int | None = None,
        dtype: str | None = None,
        static_shapes: str | None = None,
        max_batch: int = 64,
        seq_buckets: Sequence[int] | None = None,
        batch_buckets: Sequence[int] | None = None,
    ):
        super().__init__(path, info, device=device, threads=threads)
        import torch
        from transformers import AutoModelForSequenceClassification

        self._torch = torch
        if self.device == "cuda" and not torch.cuda.is_available():
            raise RouterError("device cuda: PyTorch sees no CUDA GPU (use --device cpu)")
        # Process-wide setting: the server runs one predictor per process, so this is the predictor's thread count.
        torch.set_num_threads(self.threads)

        dtype_name = DTYPES.get((dtype or ("float16" if self.device == "cuda" else "float32")).lower())
        if dtype_name is None:
            raise RouterError(f"unknown dtype {dtype!r} (choose from float32, float16, bfloat16)")
        if dtype_name == "float16" and self.device == "cpu":
            raise RouterError("float16 needs device cuda (use bfloat16 or float32 on CPU)")
        self.dtype = dtype_name
        self.static_shapes = static_shapes or ("graphs" if self.device == "cuda" else "off")
        if self.static_shapes not in STATIC_MODES:
            raise RouterError(
                f"unknown static_shapes {self.static_shapes!r} (choose from {', '.join(STATIC_MODES)})"
            )
        if self.static_shapes == "graphs" and self.device != "cuda":
            raise RouterError("static_shapes='graphs' (CUDA graphs) needs device cuda")

        kwargs = {_from_pretrained_dtype_kwarg(): getattr(torch, dtype_name)}
        if self.static_shapes == "graphs":
            kwargs["attn_implementation"] = "eager"  # the sdpa mask path syncs with the host: not capturable
        try:
            model = AutoModelForSequenceClassification.from_pretrained(str(self.path), **kwargs)
        except (OSError, ValueError) as exc:
            raise RouterError(
                f"{self.path}: cannot load the model ({' '.join(str(exc).split())[:300]})"
            ) from None
        self.torch_device = torch.device(self.device)
        self.model = model.eval().to(self.torch_device)
        if model.config.num_labels != len(self.labels):
            raise RouterError(
                f"{self.path}: model has {model.config.num_labels} outputs but router.json has "
                f"{len(self.labels)} labels"
            )
        accepted = inspect.signature(model.forward).parameters
        self.input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted]
        self.tokenizer = FastTokenizer.from_folder(self.path, self.max_length, self.text_prefix)

        self.plan = None
        if self.static_shapes != "off":
            self.plan = BucketPlan(self.max_length, max_batch, seq_buckets, batch_buckets)
        self._graphs: dict[tuple[int, int], tuple] = {}
        self._graph_pool = None
        self._lock = threading.Lock()
        self._compiled = None
        if self.static_shapes == "compile":
            import torch._dynamo

            torch._dynamo.config.cache_size_limit = max(
                torch._dynamo.config.cache_size_limit, len(self.plan.all_shapes()) + 8
            )
            mode = "reduce-overhead" if self.device == "cuda" else "default"
            self._compiled = torch.compile(self.model, mode=mode)

    @property
    def name(self) -> str:
        return f"{self.path.name} (torch {self.device} {self.dtype})"

    # ------------------------------------------------------------------------------------------ forward
    def _to_device(self, features: dict[str, np.ndarray]) -> dict:
        torch = self._torch
        return {
            name: torch.from_numpy(features[name]).to(self.torch_device, non_blocking=True)
            for name in self.input_names
        }

    def _logits(self, texts: Sequence[str]) -> np.ndarray:
        if self.plan is not None and len(texts) > self.plan.max_batch:
            step = self.plan.max_batch
            return np.concatenate([self._logits(texts[i : i + step]) for i in range(0, len(texts), step)])
        features = self.tokenizer.encode(texts)
        with self._torch.inference_mode():
            if self.plan is None:
                logits = self.model(**self._to_device(features)).logits
                return logits.float().cpu().numpy()
            n = len(texts)
            padded = self.plan.pad(features, self.tokenizer.pad_id)
            with self._lock:
                if self.static_shapes == "graphs":
                    logits = self._replay(padded)
                elif self.static_shapes == "compile":
                    if self.device == "cuda":
                        self._torch.compiler.cudagraph_mark_step_begin()
                    logits = self._compiled(**self._to_device(padded)).logits
                else:
                    logits = self.model(**self._to_device(padded)).logits
                return logits[:n].float().cpu().numpy()

    # ------------------------------------------------------------------------------------------ CUDA graphs
    def _capture(self, shape: tuple[int, int]) -> tuple:
        """Capture one forward at ``shape`` into a CUDA graph (static input buffers, static output)."""
        torch = self._torch
        inputs = {
            name: torch.zeros(shape, dtype=torch.long, device=self.torch_device) for name in self.input_names
        }
        inputs["attention_mask"].fill_(1)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up outside the graph (cuBLAS handles, allocator)
                self.model(**inputs)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # Graphs share one memory pool: safe because replays never overlap (lock) and outputs are copied out.
        with torch.cuda.graph(graph, pool=self._graph_pool):
            output = self.model(**inputs).logits
        self._graph_pool = graph.pool()
        entry = (graph, inputs, output)
        self._graphs[shape] = entry
        return entry

    def _replay(self, padded: dict[str, np.ndarray]):
        torch = self._torch
        shape = padded["input_ids"].shape
        entry = self._graphs.get(shape)
        if entry is None:
            try:
                entry = self._capture(shape)
            except RuntimeError as exc:  # an architecture whose forward cannot be captured: run it eagerly
                warnings.warn(
                    f"CUDA graph capture failed ({exc}); falling back to eager padded shapes",
                    RuntimeWarning,
                    stacklevel=2,
                )
                self.static_shapes = "pad"
                torch.cuda.synchronize()
                return self.model(**self._to_device(padded)).logits
        graph, inputs, output = entry
        for name, buffer in inputs.items():
            buffer.copy_(torch.from_numpy(padded[name]), non_blocking=False)
        graph.replay()
        return output

    def warmup(self, n: int = 3) -> None:
        """Besides the usual warm-up, capture (or compile) every bucket shape now rather than on first use."""
        if self.plan is not None and self.static_shapes in ("graphs", "compile"):
            with self._torch.inference_mode():
                for batch, seq in self.plan.all_shapes():
                    if self.static_shapes == "pad":  # capture failed on an earlier shape
                        break
                    dummy = {
                        "input_ids": np.full((batch, seq), self.tokenizer.pad_id, dtype=np.int64),
                        "attention_mask": np.ones((batch, seq), dtype=np.int64),
                        "token_type_ids": np.zeros((batch, seq), dtype=np.int64),
                    }
                    with self._lock:
                        if self.static_shapes == "graphs":
                            self._replay(dummy)
                        else:
                            if self.device == "cuda":
                                self._torch.compiler.cudagraph_mark_step_begin()
                            self._compiled(**self._to_device(dummy))
            if self.device == "cuda":
                self._torch.cuda.synchronize()
        super().warmup(n)
