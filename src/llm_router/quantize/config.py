"""`router quantize` options (:class:`QuantizeConfig`) and the constants they are checked against.

Kept apart from :mod:`llm_router.quantize.core` (numpy, the exporters) so that the command line can build its
options from this dataclass without loading the quantisation machinery at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_router.errors import RouterError
from llm_router.utils.fields import option

BACKENDS = ("ort", "inc")
CALIB_METHODS = ("minmax", "entropy", "percentile")
DEFAULT_OPSET = 18
# Quantising the MatMuls (every fully connected layer) of the plain export: as fast as quantising every op type
# ORT knows (Gather of the embeddings, Attention) and closer to float, with the embeddings kept in float.
# Measured on random-init BERT-base / 4x384 at 24 tokens, 1 thread: see docs (router quantize).
DEFAULT_DYNAMIC_OPS = ("MatMul",)
# INT8 without --static: dynamic (one activation scale per MatMul call), blockwise (MatMulNBits, per block of each
# token) or auto (both; blockwise only when it flips significantly fewer validation routes than dynamic)
INT8_SCHEMES = ("dynamic", "blockwise", "auto")
BLOCKWISE_BLOCK_SIZE = 128
# INT8: which feed-forward projections of every encoder layer stay float (--float-ffn)
FLOAT_FFN = ("none", "out", "all")


def float_ffn_problem(value: str, flag: str = "--float-ffn") -> str | None:
    """What is wrong with a ``--float-ffn`` value (None: nothing), worded for the flag that carried it."""
    return None if value in FLOAT_FFN else f"{flag} {value!r} (choose from {', '.join(FLOAT_FFN)})"


@dataclass
class QuantizeConfig:
    """Every option of `router quantize`; the defaults export a graph-optimised float32 ONNX model."""

    model: str  # an HF folder (kind hf) or an ONNX folder (re-quantise its model.onnx)
    out: str
    int8: bool = option(False, "INT8 quantisation (dynamic per-channel unless --static).", "--int8")
    static: bool = option(False, "With --int8: static QDQ quantisation, calibrated on texts.", "--static")
    calib_data: str | None = option(
        None, "Calibration texts (.txt, one per line, or a data file); default: the train split."
    )
    calib_method: str = option("minmax", "minmax, entropy or percentile.")
    calib_size: int = option(256, "Calibration texts used (seeded sample).")
    backend: str = option(
        "ort", "ort (onnxruntime.quantization) or inc (Intel Neural Compressor accuracy-aware tuning)."
    )
    fp16: bool = option(False, "Float16 model, GPU only (CUDA execution provider).", "--fp16")
    tolerance: float = option(
        1.0, "Refuse when the validation macro-F1 change's 95% interval lies entirely below -this (points)."
    )
    min_agreement: float = option(
        0.97,
        "Refuse when quantised and float routes agree on fewer of the gate texts (train + val + transfer).",
    )
    gate_texts: str | None = option(
        None,
        "Extra unlabelled texts for the agreement check (.txt or a table); "
        "default: the distillation's unlabeled file when train_config.json names one.",
    )
    gate_max_texts: int = option(4000, "Agreement texts at most (train + val + transfer, seeded sample).")
    n_boot: int = option(1000, "Bootstrap resamples for the F1-change interval.")
    force: bool = option(False, "Keep the quantised model even if it fails the gate.", "--force")
    data: str | None = option(None, "Data file of the model (default: the one router.json names).")
    opset: int = option(DEFAULT_OPSET, "ONNX opset.")
    optimize: bool = option(True, "ONNX Runtime transformer graph optimisation.", "--optimize/--no-optimize")
    per_channel: bool = option(
        True, "INT8 weight scales per output channel or per tensor.", "--per-channel/--per-tensor"
    )
    op_types: tuple[str, ...] | None = DEFAULT_DYNAMIC_OPS  # ops to quantise; None = every op ORT can
    scheme: str = option(
        "dynamic",
        "INT8 without --static: dynamic (one activation scale per MatMul call: fastest), blockwise (8-bit "
        "weights in blocks of 128, activations quantised per block of each token: closest to float, 20-30% "
        "slower) or auto (both; blockwise only when it flips significantly fewer validation routes).",
    )
    float_layers: int = option(
        0,
        "INT8: keep the first N encoder layers float (the first reads the embeddings, the widest activations).",
    )
    float_ffn: str = option(
        "none",
        "INT8: keep every encoder layer's feed-forward projections float: none, out (the output projection, "
        "which reads GELU's wide activations) or all (both).",
    )
    threads: int | None = option(None, "Threads for the parity check and the gate's evaluation.")
    parity_texts: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def bad(message: str) -> None:
            raise RouterError(f"bad quantize option: {message}")

        if self.backend not in BACKENDS:
            bad(f"--backend {self.backend!r} (choose from {', '.join(BACKENDS)})")
        if self.int8 and self.fp16:
            bad("--int8 and --fp16 exclude each other")
        if self.static and not self.int8:
            bad("--static needs --int8")
        if self.backend == "inc" and not self.int8:
            bad("--backend inc needs --int8")
        if self.calib_data and not self.static:
            bad("--calib-data needs --int8 --static")
        if self.calib_method not in CALIB_METHODS:
            bad(f"--calib-method {self.calib_method!r} (choose from {', '.join(CALIB_METHODS)})")
        if self.scheme not in INT8_SCHEMES:
            bad(f"--scheme {self.scheme!r} (choose from {', '.join(INT8_SCHEMES)})")
        if self.scheme != "dynamic" and (not self.int8 or self.static or self.backend != "ort"):
            bad(f"--scheme {self.scheme} needs --int8 without --static and --backend ort")
        if self.float_layers < 0:
            bad(f"--float-layers must be >= 0 (got {self.float_layers})")
        if problem := float_ffn_problem(self.float_ffn):
            bad(problem)
        if self.calib_size < 1:
            bad(f"--calib-size must be >= 1 (got {self.calib_size})")
        if not 11 <= self.opset <= 23:
            bad(f"--opset must be in 11..23 (got {self.opset})")
        if self.tolerance != self.tolerance:
            bad("--tolerance is NaN")
        self.gate_config()  # checks min_agreement / gate_max_texts

    def gate_config(self):
        from llm_router.quantize.gate import GateConfig

        return GateConfig(
            min_agreement=self.min_agreement,
            tolerance=self.tolerance,
            n_boot=self.n_boot,
            max_texts=self.gate_max_texts,
            seed=self.seed,
        )

    @property
    def mode(self) -> str:
        if self.fp16:
            return "fp16"
        if not self.int8:
            return "float"
        # auto starts as dynamic; `router quantize` records the scheme it chose
        scheme = "static" if self.static else "blockwise" if self.scheme == "blockwise" else "dynamic"
        return ("inc-" if self.backend == "inc" else "") + f"int8-{scheme}"
