"""ONNX export: parity with PyTorch, graph optimisation, folder contents, fp16, static INT8, exporter fallback."""

import json

import numpy as np
import onnx
import pytest

from llm_router.quantize import QuantizeConfig, export_onnx, quantize_model
from llm_router.runtime import OnnxPredictor, Predictor, TorchPredictor

TEXTS = [
    "hi teacher",
    "write a poem about the sea",
    "solve 12x + 3 = 27 for x",
    "what time is it in oslo",
    "rewrite this paragraph about coffee formally " * 8,
]
FP32_PARITY = 1e-4


def test_float_onnx_matches_pytorch(tiny_classifier_dir, tiny_onnx_dir):
    report = json.loads((tiny_onnx_dir / "quantize.json").read_text())
    print(f"max |logit diff| ONNX vs PyTorch: {report['max_abs_logit_diff']:.2e}")
    assert report["max_abs_logit_diff"] < FP32_PARITY and report["parity_ok"]
    assert report["n_parity_texts"] > 0
    # and independently, on other texts (batch with padding, and one by one)
    torch_predictor = TorchPredictor.load(tiny_classifier_dir, threads=1)
    onnx_predictor = OnnxPredictor.load(tiny_onnx_dir, threads=1, onnx_file="model.onnx")
    np.testing.assert_allclose(
        onnx_predictor._logits(TEXTS), torch_predictor._logits(TEXTS), atol=FP32_PARITY
    )
    for text in TEXTS:
        np.testing.assert_allclose(
            onnx_predictor._logits([text]), torch_predictor._logits([text]), atol=FP32_PARITY
        )


def test_output_folder_follows_the_artefact_contract(tiny_classifier_dir, tiny_onnx_dir):
    names = {p.name for p in tiny_onnx_dir.iterdir()}
    assert {
        "model.onnx",
        "model_int8.onnx",
        "router.json",
        "split.json",
        "quantize.json",
        "config.json",
        "tokenizer.json",
    } <= names
    assert not any(n.endswith((".safetensors", ".bin")) for n in names)  # no PyTorch weights carried over
    assert not any(n.startswith(".") for n in names)  # no scratch files left
    router = json.loads((tiny_onnx_dir / "router.json").read_text())
    source = json.loads((tiny_classifier_dir / "router.json").read_text())
    assert router["kind"] == "onnx" and router["onnx_file"] == "model_int8.onnx"
    assert router["created_by"] == "router quantize"
    for key in ("labels", "routes", "route_map", "text_prefix", "max_length", "data"):
        assert router[key] == source[key]
    assert (tiny_onnx_dir / "split.json").read_text() == (tiny_classifier_dir / "split.json").read_text()
    report = json.loads((tiny_onnx_dir / "quantize.json").read_text())
    assert report["exporter"] == "optimum" and report["decision"] == "accepted"
    assert report["optimized"] and report["fused_ops"]["Attention"] == 2  # one fused attention per layer


def test_torch_onnx_fallback_when_optimum_fails(monkeypatch, tmp_path, tiny_classifier_dir):
    import optimum.exporters.onnx

    def broken(*args, **kwargs):
        raise ValueError("unsupported architecture")

    monkeypatch.setattr(optimum.exporters.onnx, "main_export", broken)
    assert export_onnx(tiny_classifier_dir, tmp_path / "model.onnx") == "torch.onnx"
    graph = onnx.load(str(tmp_path / "model.onnx")).graph
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    assert graph.input[0].type.tensor_type.shape.dim[1].dim_param  # dynamic sequence axis


def test_float_only_export(tmp_path, tiny_classifier_dir):
    result = quantize_model(
        QuantizeConfig(model=str(tiny_classifier_dir), out=str(tmp_path / "out"), threads=1)
    )
    assert result.decision == "float" and result.served_file == "model.onnx"
    assert result.max_abs_logit_diff < FP32_PARITY
    assert sorted(p.name for p in (tmp_path / "out").glob("*.onnx")) == ["model.onnx"]
    assert (
        Predictor.load(tmp_path / "out", threads=1).predict(TEXTS).routes
        == Predictor.load(tiny_classifier_dir, threads=1).predict(TEXTS).routes
    )


def test_fp16_model(tmp_path, tiny_classifier_dir):
    result = quantize_model(
        QuantizeConfig(model=str(tiny_classifier_dir), out=str(tmp_path / "out"), fp16=True, threads=1)
    )
    model = onnx.load(str(tmp_path / "out" / "model_fp16.onnx"))
    types = {init.data_type for init in model.graph.initializer if init.data_type in (1, 10)}
    assert onnx.TensorProto.FLOAT16 in types
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float32 I/O kept
    assert result.served_file == "model_fp16.onnx"
    assert (
        result.decision == "accepted" and result.f1_drop <= 1.0
    )  # gated (ONNX Runtime runs fp16 on CPU too)


@pytest.mark.parametrize("method", ["minmax", "percentile"])
def test_static_int8_with_calibration_file(tmp_path, tiny_classifier_dir, method):
    calib = tmp_path / "calib.txt"
    calib.write_text("\n".join(TEXTS * 4) + "\n\n")
    out = tmp_path / "out"
    result = quantize_model(
        QuantizeConfig(
            model=str(tiny_classifier_dir),
            out=str(out),
            int8=True,
            static=True,
            calib_data=str(calib),
            calib_method=method,
            threads=1,
            tolerance=5,
        )
    )
    assert result.calib_method == method and result.n_calib == len(TEXTS) * 4
    model = onnx.load(str(out / "model_int8.onnx"))
    ops = {node.op_type for node in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ format
    assert result.decision == "accepted" and result.agreement >= 0.9


def test_static_int8_calibrates_on_the_train_split_by_default(tmp_path, tiny_classifier_dir):
    result = quantize_model(
        QuantizeConfig(
            model=str(tiny_classifier_dir),
            out=str(tmp_path / "out"),
            int8=True,
            static=True,
            calib_size=20,
            threads=1,
            tolerance=5,
        )
    )
    assert result.n_calib == 20 and result.calib_method == "minmax"


def test_requantise_an_onnx_folder(tmp_path, tiny_onnx_dir):
    result = quantize_model(
        QuantizeConfig(
            model=str(tiny_onnx_dir),
            out=str(tmp_path / "again"),
            int8=True,
            per_channel=False,
            threads=1,
            tolerance=5,
        )
    )
    assert result.exporter == "copied" and result.served_file == "model_int8.onnx"
    assert (tmp_path / "again" / "model.onnx").read_bytes() == (tiny_onnx_dir / "model.onnx").read_bytes()
