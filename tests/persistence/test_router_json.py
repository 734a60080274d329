"""router.json reading and the label -> route matrix."""

import json
import shutil

import numpy as np
import pytest

from llm_router.errors import RouterError
from llm_router.persistence import read_router_info
from llm_router.utils.probs import route_matrix


def test_route_matrix_sums_labels_into_routes():
    matrix = route_matrix(
        ["poem", "email", "math"],
        ["Claude", "gpt-o1"],
        {"poem": "Claude", "email": "Claude", "math": "gpt-o1"},
    )
    probs = np.array([[0.2, 0.3, 0.5]]) @ matrix
    np.testing.assert_allclose(probs, [[0.5, 0.5]])


def test_route_matrix_identity_in_any_order():
    matrix = route_matrix(["b", "a"], ["a", "b"], None)
    np.testing.assert_array_equal(matrix, [[0, 1], [1, 0]])


def test_route_matrix_rejects_unknown_route():
    with pytest.raises(RouterError, match="not one of the routes"):
        route_matrix(["a", "c"], ["a", "b"], None)
    with pytest.raises(RouterError, match="route_map sends it to"):
        route_matrix(["a"], ["b"], {"a": "zzz"})


def test_reads_router_json(tiny_classifier_dir):
    folder, info = read_router_info(tiny_classifier_dir)
    assert folder == tiny_classifier_dir
    assert info.kind == "hf"
    assert info.labels == ["Claude", "gemini-mini", "gpt-o1"] == info.routes
    assert info.max_length == 48
    assert info.data["path"].endswith("tiny.csv")


def test_bare_hf_folder_uses_config_labels(tmp_path, tiny_classifier_dir):
    bare = tmp_path / "bare"
    shutil.copytree(tiny_classifier_dir, bare)
    (bare / "router.json").unlink()
    _, info = read_router_info(bare)
    assert info.kind == "hf"
    assert info.labels == ["Claude", "gemini-mini", "gpt-o1"]
    assert info.text_prefix == ""


def test_onnx_file_path_selects_that_file(tiny_onnx_dir):
    folder, info = read_router_info(tiny_onnx_dir / "model.onnx")
    assert folder == tiny_onnx_dir
    assert info.kind == "onnx" and info.onnx_file == "model.onnx"
    _, served = read_router_info(tiny_onnx_dir)
    assert served.onnx_file == "model_int8.onnx"


def test_bad_inputs_are_router_errors(tmp_path):
    with pytest.raises(RouterError, match="no such model"):
        read_router_info(tmp_path / "missing")
    with pytest.raises(RouterError, match="not a model folder"):
        read_router_info(tmp_path)
    (tmp_path / "router.json").write_text("{not json")
    with pytest.raises(RouterError, match="not valid JSON"):
        read_router_info(tmp_path)
    (tmp_path / "router.json").write_text(json.dumps({"kind": "tflite", "labels": ["a", "b"]}))
    with pytest.raises(RouterError, match="unknown kind"):
        read_router_info(tmp_path)
