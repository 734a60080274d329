"""INT8 quantisation with ``onnxruntime.quantization``: dynamic (weights INT8 per channel, activations quantised
on the fly), blockwise (MatMulNBits: 8-bit weights in blocks, activations quantised per block of each token) or
static (QDQ, activation ranges calibrated on a sample of texts)."""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from llm_router.errors import RouterError
from llm_router.quantize.config import CALIB_METHODS, DEFAULT_DYNAMIC_OPS, FLOAT_FFN
from llm_router.quantize.exporters import _quiet


def quantize_dynamic_int8(
    float_file: str | Path,
    out_file: str | Path,
    *,
    per_channel: bool = True,
    op_types: Sequence[str] | None = DEFAULT_DYNAMIC_OPS,
    reduce_range: bool = False,
    nodes_to_exclude: Sequence[str] = (),
) -> None:
    """INT8 weights (symmetric, per output channel), activations quantised at run time (uint8); the nodes named
    in ``nodes_to_exclude`` stay float."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        quantize_dynamic(
            str(float_file),
            str(out_file),
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            reduce_range=reduce_range,
            op_types_to_quantize=list(op_types) if op_types else None,
            nodes_to_exclude=list(nodes_to_exclude),
            # Contrib ops of the fused graph defeat ONNX shape inference; their outputs are float.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


def quantize_blockwise_int8(float_file: str | Path, out_file: str | Path, *, block_size: int = 128) -> None:
    """Every MatMul as ONNX Runtime's ``MatMulNBits``: 8-bit symmetric weights with one scale per ``block_size``
    inputs, and ``accuracy_level`` 4, which quantises the activations to INT8 per block of each token's row (not
    one scale per tensor, as dynamic INT8 does) for integer kernels.

    Why: dynamic INT8's one activation scale per MatMul call is where its flips come from. Measured at batch 1,
    agreement with the float teacher on the validation texts and copies / the test texts (docs/DISTILLATION.md,
    "Blockwise INT8 for the teacher"): seed teacher 91.9% / 92.2% dynamic (first layer float), 98.8% / 100%
    blockwise; RouterBench 96.6% / 97.6% and 99.1% / 99.3%; demo 98.5% / 100% and 99.3% / 100% - for 16-26%
    more time than dynamic INT8 (32-38% less than the float ONNX model). Blocks of 32 were slower and no closer
    (seed: 7.69 against 6.10 ms, 98.7% against 100% of the test texts)."""
    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        with _quiet():
            quantizer = MatMulNBitsQuantizer(
                str(float_file), bits=8, block_size=block_size, is_symmetric=True, accuracy_level=4
            )
            quantizer.process()
            quantizer.model.save_model_to_file(str(out_file), use_external_data_format=False)
    except Exception as exc:  # an unusual graph, or an onnxruntime (or onnx-ir) without the 8-bit path
        Path(out_file).unlink(missing_ok=True)
        raise RouterError(f"blockwise INT8 failed ({' '.join(str(exc).split())[:200]})") from None


# the encoder-layer index in an exported node name: ".../encoder/layer.3/...", "/model/layers.3/..." (ModernBERT),
# "/transformer/layer.3/..." (DistilBERT)
_LAYER_IN_NAME = re.compile(r"(?:^|/)(?:layer|layers)[._](\d+)/")


def first_layer_nodes(onnx_file: str | Path, layers: int, op_types: Sequence[str] = ("MatMul",)) -> list[str]:
    """The names of the ``op_types`` nodes of the first ``layers`` encoder layers of an exported model, to keep
    them float when the rest is INT8 (none when ``layers`` is 0 or the export does not name its layers).

    Why the first layers: the first reads the embeddings, whose activations have the widest range in the model,
    so one per-tensor activation scale costs it the most precision. Measured, batch 1 (docs/DISTILLATION.md,
    "INT8 and the first encoder layer"): on the demo teacher (multilingual-e5-small, 12 layers) keeping layer 0
    float raised the INT8 model's agreement with the float one from 97.4% to 98.5% of 661 texts for 7% more
    time; on the seed teacher it changed nothing (91.9%), and the served cascades of either run were no better.
    On a student started from the teacher's first layers it mattered: 95.1% -> 99.2% of the demo test texts, for
    25% more time. So `router quantize` leaves it off (``--float-layers``) and `router pipeline` keeps the
    student's first layer float (``student_float_layers``)."""
    if layers <= 0:
        return []
    import onnx

    graph = onnx.load(str(onnx_file), load_external_data=False).graph
    wanted = set(op_types)
    names = []
    for node in graph.node:
        match = _LAYER_IN_NAME.search(node.name)
        if node.op_type in wanted and match and int(match.group(1)) < layers:
            names.append(node.name)
    return names


# the feed-forward block's two projections in common exports: BERT-like encoders ("intermediate/dense" in,
# "output/dense" out, the latter not under "attention/"), DistilBERT ("ffn/lin1", "ffn/lin2"), ModernBERT
# ("mlp/Wi", "mlp/Wo")
_FFN_IN = re.compile(r"/(?:intermediate/dense|ffn/lin1|mlp/Wi)/")
_FFN_OUT = re.compile(r"(?<!attention)/(?:output/dense|ffn/lin2|mlp/Wo)/")


def ffn_nodes(onnx_file: str | Path, which: str, op_types: Sequence[str] = ("MatMul",)) -> list[str]:
    """The names of the ``op_types`` nodes of every encoder layer's feed-forward block - ``which`` is ``"out"``
    (the output projection) or ``"all"`` (both projections; ``"none"``: no nodes) - to keep them float when
    the rest is INT8.

    Why the feed-forward block: dynamic INT8 quantises each MatMul's input with one scale per call, and that is
    where the measured loss sat (the output projection reads GELU's output, the input projection a residual
    stream). Measured on the seed teacher (multilingual-e5-small, first layer float; docs/DISTILLATION.md,
    "Which INT8 MatMuls move a teacher's decisions"): agreement with the float model on its validation texts
    and copies 91.9% with every other MatMul INT8, 95.5% with the output projections float, 99.4% with both;
    the attention projections float instead, 93.1-93.4%."""
    if which not in FLOAT_FFN:
        raise RouterError(f"float FFN {which!r}: choose from {', '.join(FLOAT_FFN)}")
    if which == "none":
        return []
    import onnx

    patterns = [_FFN_OUT] + ([_FFN_IN] if which == "all" else [])
    graph = onnx.load(str(onnx_file), load_external_data=False).graph
    wanted = set(op_types)
    return [
        node.name
        for node in graph.node
        if node.op_type in wanted
        and _LAYER_IN_NAME.search(node.name)
        and any(p.search(node.name) for p in patterns)
    ]


class TextCalibrationReader:
    """Feeds tokenised calibration texts to ``quantize_static`` in small batches.

    ``fixed_shape``: every batch has the same ``[batch_size, longest text]`` shape (the last batch is filled up by
    cycling texts), which the histogram calibrators (entropy, percentile) need since they stack batches.
    """

    def __init__(
        self,
        tokenizer,
        texts: Sequence[str],
        input_names: Sequence[str],
        batch_size: int = 8,
        fixed_shape: bool = False,
    ):
        self.tokenizer = tokenizer
        self.texts = list(texts)
        self.input_names = list(input_names)
        self.batch_size = batch_size
        self.fixed_shape = fixed_shape
        self._batches: Iterator[dict[str, np.ndarray]] | None = None

    def _iter(self) -> Iterator[dict[str, np.ndarray]]:
        texts = self.texts
        seq = 0
        if self.fixed_shape and texts:
            missing = (-len(texts)) % self.batch_size
            texts = texts + [texts[i % len(texts)] for i in range(missing)]
            seq = max(min(self.tokenizer.token_count(t), self.tokenizer.max_length) for t in texts)
        for start in range(0, len(texts), self.batch_size):
            features = self.tokenizer.encode(texts[start : start + self.batch_size])
            if seq:
                from llm_router.runtime.buckets import pad_to_bucket

                features = pad_to_bucket(features, self.batch_size, seq, self.tokenizer.pad_id)
            yield {name: features[name] for name in self.input_names}

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._batches is None:
            self._batches = self._iter()
        return next(self._batches, None)

    def rewind(self) -> None:
        self._batches = None


def _as_ort_reader(reader: TextCalibrationReader):
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(CalibrationDataReader):
        def get_next(self):
            return reader.get_next()

        def rewind(self):
            reader.rewind()

    return _Reader()


def quantize_static_int8(
    float_file: str | Path,
    out_file: str | Path,
    reader: TextCalibrationReader,
    *,
    method: str = "minmax",
    per_channel: bool = True,
    op_types: Sequence[str] | None = DEFAULT_DYNAMIC_OPS,
    nodes_to_exclude: Sequence[str] = (),
) -> None:
    """QDQ static quantisation: activation ranges from ``reader`` (``method``: minmax, entropy or percentile),
    INT8 weights per channel. The float model is pre-processed (shape inference) first, as ORT recommends."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    if method not in methods:
        raise RouterError(f"unknown calibration method {method!r} (choose from {', '.join(CALIB_METHODS)})")
    if not reader.texts:
        raise RouterError("no calibration texts")
    out_file = Path(out_file)
    with tempfile.TemporaryDirectory(prefix="calib-", dir=out_file.parent) as scratch:
        prepared = Path(scratch).resolve() / "prepared.onnx"
        with _quiet():
            # Symbolic shape inference (needed for dynamic axes) fails on some exports: then plain ONNX shape
            # inference, then the model as it is. chdir: a failed attempt dumps a file into the working directory.
            source = str(Path(float_file).resolve())
            for symbolic in (True, False):
                try:
                    with contextlib.chdir(scratch):
                        quant_pre_process(
                            source, str(prepared), skip_optimization=True, skip_symbolic_shape=not symbolic
                        )
                    break
                except Exception as exc:
                    logging.getLogger(__name__).info(
                        "quant_pre_process (symbolic=%s) failed: %s", symbolic, exc
                    )
            else:
                prepared = Path(float_file)
            quantize_static(
                str(prepared),
                str(out_file),
                _as_ort_reader(reader),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=list(op_types) if op_types else None,
                nodes_to_exclude=list(nodes_to_exclude),
                per_channel=per_channel,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=methods[method],
                calibration_providers=["CPUExecutionProvider"],
                extra_options={"DefaultTensorType": 1},  # onnx.TensorProto.FLOAT
            )
