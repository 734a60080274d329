"""ONNX export of an HF sequence-classification folder, the parity check against PyTorch, ONNX Runtime graph
optimisation and fp16 conversion.

Export goes through optimum's exporter (``optimum.exporters.onnx.main_export``, task ``text-classification``),
which works offline on a local folder; when optimum cannot handle the architecture, ``torch.onnx.export`` (the
TorchScript exporter) with dynamic batch and sequence axes is used instead.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from llm_router.errors import RouterError
from llm_router.quantize.config import DEFAULT_OPSET

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
# ORT's transformer optimizer fuses attention / layer norm / gelu for these (all BERT-shaped encoders).
BERT_LIKE = {"bert", "roberta", "xlm-roberta", "camembert", "electra", "ernie", "mpnet", "nomic_bert"}


@contextlib.contextmanager
def _quiet():
    """Exporters print tracer warnings and progress; keep the user's terminal for our own table."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()):
            previous = logging.root.manager.disable
            logging.disable(logging.WARNING)
            try:
                yield
            finally:
                logging.disable(previous)


def export_onnx(model_dir: str | Path, out_file: str | Path, opset: int = DEFAULT_OPSET) -> str:
    """Export ``model_dir`` to ``out_file`` (float32, dynamic batch and sequence axes, output ``logits``).

    Returns the exporter that did it: ``"optimum"`` or ``"torch.onnx"``.
    """
    model_dir, out_file = Path(model_dir), Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    optimum_error = None
    with tempfile.TemporaryDirectory(prefix="onnx-export-", dir=out_file.parent) as scratch:
        try:
            from optimum.exporters.onnx import main_export

            with _quiet():
                main_export(
                    str(model_dir),
                    output=scratch,
                    task="text-classification",
                    opset=opset,
                    device="cpu",
                    do_validation=False,
                    library_name="transformers",
                )
            shutil.move(str(Path(scratch) / "model.onnx"), out_file)
            return "optimum"
        except Exception as exc:  # unsupported architecture, optimum missing or broken: fall back
            optimum_error = exc
    try:
        _torch_onnx_export(model_dir, out_file, opset)
    except Exception as exc:
        raise RouterError(
            f"{model_dir}: ONNX export failed (optimum: {_one_line(optimum_error)}; "
            f"torch.onnx: {_one_line(exc)})"
        ) from None
    return "torch.onnx"


def _one_line(exc: BaseException | None, limit: int = 200) -> str:
    return " ".join(str(exc).split())[:limit] if exc else "-"


def _torch_onnx_export(model_dir: Path, out_file: Path, opset: int) -> None:
    import inspect

    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        str(model_dir), attn_implementation="eager"
    ).eval()
    accepted = inspect.signature(model.forward).parameters
    names = [n for n in INPUT_NAMES if n in accepted]
    dummy = {
        n: torch.ones((2, 8), dtype=torch.long)
        if n != "token_type_ids"
        else torch.zeros((2, 8), dtype=torch.long)
        for n in names
    }
    axes = {n: {0: "batch_size", 1: "sequence_length"} for n in names} | {"logits": {0: "batch_size"}}
    with _quiet(), torch.inference_mode():
        torch.onnx.export(
            model,
            (),
            str(out_file),
            kwargs=dummy,
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )


def model_type(model_dir: str | Path) -> str:
    import json

    config = Path(model_dir) / "config.json"
    return json.loads(config.read_text(encoding="utf-8")).get("model_type", "") if config.exists() else ""


def optimize_onnx(in_file: str | Path, out_file: str | Path, hf_model_type: str) -> dict[str, int] | None:
    """ONNX Runtime's transformer optimizer (fused attention, skip layer norm, bias gelu) for BERT-like encoders.

    Returns the fused-operator counts, or ``None`` when the architecture is not one it knows (then the file is
    copied unchanged and ONNX Runtime's own session-level optimisation, ``ORT_ENABLE_ALL``, is all there is).
    """
    if hf_model_type not in BERT_LIKE:
        shutil.copyfile(in_file, out_file)
        return None
    from onnxruntime.transformers.optimizer import optimize_model

    with _quiet():
        # num_heads/hidden_size 0: read from the graph; opt_level 0: python fusions only, so the file stays
        # portable across execution providers (ORT applies its own level-ALL rewrites when it loads it).
        optimized = optimize_model(str(in_file), model_type="bert", num_heads=0, hidden_size=0, opt_level=0)
        optimized.save_model_to_file(str(out_file))
    return {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}


def convert_fp16(in_file: str | Path, out_file: str | Path) -> None:
    """Float16 weights and activations, float32 inputs/outputs kept (for the CUDA execution provider)."""
    import onnx
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = OnnxModel(onnx.load(str(in_file)))
    with _quiet():
        model.convert_float_to_float16(keep_io_types=True)
    model.save_model_to_file(str(out_file))


def max_abs_logit_diff(reference: np.ndarray, other: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(reference, np.float64) - np.asarray(other, np.float64))))


def logit_parity(torch_predictor, onnx_predictor, texts: Sequence[str]) -> float:
    """Max |logit difference| between two predictors on ``texts`` (one padded batch and each text alone)."""
    texts = list(texts)
    diff = max_abs_logit_diff(torch_predictor._logits(texts), onnx_predictor._logits(texts))
    for text in texts[:4]:
        diff = max(diff, max_abs_logit_diff(torch_predictor._logits([text]), onnx_predictor._logits([text])))
    return diff
