"""ONNX export: parity with PyTorch, graph optimisation, folder contents, fp16, static INT8, exporter fallback."""

import json
import re

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
            float_layers=1,
        )
    )
    assert result.n_calib == 20 and result.calib_method == "minmax"
    # --float-layers applies to static QDQ too: layer 0's MatMuls get no QuantizeLinear/DequantizeLinear inputs
    graph = onnx.load(str(tmp_path / "out" / "model_int8.onnx"), load_external_data=False).graph
    dequantized = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    layer0 = [n for n in graph.node if n.op_type == "MatMul" and "/layer.0/" in n.name]
    layer1 = [
        n
        for n in graph.node
        if n.op_type == "MatMul" and "/layer.1/" in n.name and "self/MatMul" not in n.name
    ]
    assert result.float_nodes == len(layer0) == 8
    assert not any(i in dequantized for n in layer0 for i in n.input)
    assert layer1 and all(any(i in dequantized for i in n.input) for n in layer1)


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


def _matmul_ops(path) -> dict[str, str]:
    graph = onnx.load(str(path), load_external_data=False).graph
    return {n.name: n.op_type for n in graph.node if n.op_type in ("MatMul", "MatMulInteger")}


def test_float_layers_keep_the_first_encoder_layer_float(tmp_path, tiny_classifier_dir, tiny_onnx_dir):
    default = json.loads((tiny_onnx_dir / "quantize.json").read_text())
    assert default["float_layers"] == 0 and default["float_nodes"] == 0
    first = tmp_path / "first-float"
    quantize_model(
        QuantizeConfig(model=str(tiny_classifier_dir), out=str(first), int8=True, threads=1, float_layers=1)
    )
    report = json.loads((first / "quantize.json").read_text())
    int8_ops = _matmul_ops(first / "model_int8.onnx")
    layer0 = [n for n in int8_ops if "/layer.0/" in n]
    layer1 = [n for n in int8_ops if "/layer.1/" in n]
    # layer 0's six weight MatMuls and two attention-score MatMuls keep their float MatMul; layer 1's weights are
    # INT8 (MatMulInteger, whose nodes the quantiser renames)
    assert report["float_layers"] == 1 and report["float_nodes"] == len(layer0) == 8
    assert all(int8_ops[n] == "MatMul" for n in layer0)
    assert not any(int8_ops[n] == "MatMul" and "/attention/self/MatMul" not in n for n in layer1)
    counts = [
        sum(op == "MatMulInteger" for op in _matmul_ops(f / "model_int8.onnx").values())
        for f in (tiny_onnx_dir, first)
    ]
    assert counts[0] == counts[1] + 6  # layer 0's six weight MatMuls are INT8 in the default


def test_first_layer_nodes_reads_the_layer_index_of_common_exports(tmp_path):
    from onnx import helper

    from llm_router.quantize.int8 import first_layer_nodes

    names = [
        "/bert/encoder/layer.0/attention/self/query/MatMul",  # BERT (optimum)
        "/model/layers.1/mlp/Wi/MatMul",  # ModernBERT
        "/distilbert/transformer/layer.12/ffn/lin1/MatMul",  # layer 12, not 1
        "/classifier/MatMul",  # outside the encoder
        "MatMul_7",  # an export without scoped names
    ]

    def graph_file(node_names, path):
        nodes = [helper.make_node("MatMul", ["x", "w"], [f"y{i}"], name=n) for i, n in enumerate(node_names)]
        nodes.append(helper.make_node("Add", ["x", "w"], ["z"], name="/bert/encoder/layer.0/output/Add"))
        onnx.save(helper.make_model(helper.make_graph(nodes, "g", [], [])), str(path))
        return path

    path = graph_file(names, tmp_path / "names.onnx")
    assert first_layer_nodes(path, 1) == [names[0]]
    assert first_layer_nodes(path, 2) == names[:2]
    assert first_layer_nodes(path, 0) == []
    unnamed = graph_file(["MatMul_1", "MatMul_2"], tmp_path / "unnamed.onnx")
    assert first_layer_nodes(unnamed, 1) == []
    with pytest.raises(Exception, match="float-layers"):
        QuantizeConfig(model="m", out="o", int8=True, float_layers=-1)


def test_ffn_nodes_names_the_feed_forward_projections_of_common_exports(tmp_path):
    from onnx import helper

    from llm_router.quantize.int8 import ffn_nodes

    ffn_in = [
        "/bert/encoder/layer.0/intermediate/dense/MatMul",  # BERT (optimum)
        "/distilbert/transformer/layer.2/ffn/lin1/MatMul",  # DistilBERT
        "/model/layers.1/mlp/Wi/MatMul",  # ModernBERT
    ]
    ffn_out = [
        "/bert/encoder/layer.0/output/dense/MatMul",
        "/distilbert/transformer/layer.2/ffn/lin2/MatMul",
        "/model/layers.1/mlp/Wo/MatMul",
    ]
    others = [
        "/bert/encoder/layer.0/attention/output/dense/MatMul",  # the attention's output, not the FFN's
        "/bert/encoder/layer.0/attention/self/query/MatMul",
        "/bert/pooler/dense/MatMul",  # outside the encoder layers
        "MatMul_7",
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w"], [f"y{i}"], name=n)
        for i, n in enumerate(others + ffn_in + ffn_out)
    ]
    path = tmp_path / "names.onnx"
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [], [])), str(path))
    assert ffn_nodes(path, "none") == []
    assert ffn_nodes(path, "out") == ffn_out
    assert ffn_nodes(path, "all") == ffn_in + ffn_out
    with pytest.raises(Exception, match="float-ffn"):
        QuantizeConfig(model="m", out="o", int8=True, float_ffn="some")


def _int8(model, out, **options):
    """`router quantize --int8` of ``model`` into ``out`` on one thread, with ``options``."""
    return quantize_model(QuantizeConfig(model=str(model), out=str(out), int8=True, threads=1, **options))


def test_float_ffn_keeps_every_layers_feed_forward_output_float(tmp_path, tiny_classifier_dir, tiny_onnx_dir):
    out = tmp_path / "ffn-float"
    result = _int8(tiny_classifier_dir, out, float_layers=1, float_ffn="out")
    report = json.loads((out / "quantize.json").read_text())
    int8_ops = _matmul_ops(out / "model_int8.onnx")
    ffn_out = [n for n in int8_ops if re.search(r"/layer\.\d+/output/dense/", n)]
    layers = {re.search(r"/layer\.(\d+)/", n).group(1) for n in ffn_out}
    assert len(layers) >= 2 and all(int8_ops[n] == "MatMul" for n in ffn_out)
    # layer 0's 8 MatMuls, plus one feed-forward output for every other layer
    assert report["float_ffn"] == "out" and result.float_nodes == 8 + len(layers) - 1
    default_int8 = sum(
        op == "MatMulInteger" for op in _matmul_ops(tiny_onnx_dir / "model_int8.onnx").values()
    )
    assert sum(op == "MatMulInteger" for op in int8_ops.values()) == default_int8 - 6 - (len(layers) - 1)


def test_blockwise_int8_replaces_every_matmul(tmp_path, tiny_classifier_dir, tiny_onnx_dir):
    out = tmp_path / "blockwise"
    result = _int8(tiny_classifier_dir, out, scheme="blockwise", float_layers=1)
    graph = onnx.load(str(out / "model_int8.onnx"), load_external_data=False).graph
    weights = {i.name for i in graph.initializer}
    ops = [n.op_type for n in graph.node]
    assert "MatMulNBits" in ops and "MatMulInteger" not in ops
    # every MatMul with a weight became MatMulNBits; the float ones left multiply two activations (attention)
    assert not [n.name for n in graph.node if n.op_type == "MatMul" and weights & set(n.input)]
    router = json.loads((out / "router.json").read_text())
    assert router["quantization"] == "int8-blockwise" and router["onnx_file"] == "model_int8.onnx"
    assert result.mode == "int8-blockwise" and result.decision == "accepted" and result.float_layers == 0
    assert any("do not apply to --scheme blockwise" in n for n in result.notes)
    blockwise = Predictor.load(out, threads=1)
    assert blockwise.per_text  # one text per call, as dynamic INT8
    float_logits = OnnxPredictor.load(out, threads=1, onnx_file="model.onnx")._logits(TEXTS)
    dynamic_logits = Predictor.load(tiny_onnx_dir, threads=1)._logits(TEXTS)
    blockwise_error = np.abs(blockwise._logits(TEXTS) - float_logits).max()
    print(
        f"max |logit - float|: blockwise {blockwise_error:.2e}, dynamic {np.abs(dynamic_logits - float_logits).max():.2e}"
    )
    assert blockwise_error < 0.05


def test_auto_scheme_records_its_choice_and_keeps_one_int8_file(tmp_path, tiny_classifier_dir):
    out = tmp_path / "auto"
    result = _int8(tiny_classifier_dir, out, scheme="auto")
    choice = json.loads((out / "quantize.json").read_text())["scheme_choice"]
    assert choice["chosen"] in ("dynamic", "blockwise") and choice["n_val"] == result.n_val > 0
    assert choice["dynamic_flips"] >= choice["only_dynamic"] and 0.0 <= choice["p_value"] <= 1.0
    assert sorted(p.name for p in out.glob("*.onnx")) == ["model.onnx", "model_int8.onnx"]
    assert not any(p.name.startswith(".") for p in out.iterdir())
    graph = onnx.load(str(out / "model_int8.onnx"), load_external_data=False).graph
    expected = "MatMulNBits" if choice["chosen"] == "blockwise" else "MatMulInteger"
    assert expected in {n.op_type for n in graph.node}
    assert json.loads((out / "router.json").read_text())["quantization"] == f"int8-{choice['chosen']}"
    assert result.gate["agreement_by_source"]["val"] >= 0.0 and "val" in result.gate["reason"]


def test_a_failing_blockwise_quantizer_is_one_error_or_leaves_auto_dynamic(
    tmp_path, tiny_classifier_dir, monkeypatch
):
    from onnxruntime.quantization import matmul_nbits_quantizer

    from llm_router.errors import RouterError

    class Broken:
        def __init__(self, *args, **kwargs):
            raise ValueError("no 8-bit kernel\nfor this graph")

    monkeypatch.setattr(matmul_nbits_quantizer, "MatMulNBitsQuantizer", Broken)
    with pytest.raises(RouterError, match=r"blockwise INT8 failed \(no 8-bit kernel for this graph\)"):
        _int8(tiny_classifier_dir, tmp_path / "b", scheme="blockwise")
    assert not (tmp_path / "b").exists()  # nothing half-written
    result = _int8(tiny_classifier_dir, tmp_path / "a", scheme="auto")
    assert result.mode == "int8-dynamic" and result.scheme_choice["reason"] == "dynamic: no blockwise file"
    assert any("kept dynamic INT8" in note for note in result.notes)
