"""The accuracy gate of `router quantize`, and its command line."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from llm_router.cli import app
from llm_router.errors import RouterError
from llm_router.quantize import GATE_EXIT_CODE, GateRejected, QuantizeConfig, quantize_model
from llm_router.runtime import Predictor


def run_cli(*args: str):
    return CliRunner().invoke(app, ["quantize", *args])


def test_gate_accepts_a_faithful_int8_model(tiny_onnx_dir):
    report = json.loads((tiny_onnx_dir / "quantize.json").read_text())
    print(f"F1 float {report['f1_float']:.2f} -> int8 {report['f1_quantized']:.2f}")
    assert report["decision"] == "accepted"
    assert report["f1_float"] > 80  # the tiny model learnt its task, so the gate measures something
    assert report["f1_drop"] <= 1.0 and report["tolerance"] == 1.0
    assert report["val_split"] == "val" and report["n_val"] > 10


def test_gate_refuses_an_int8_model_that_loses_f1(tmp_path, outlier_model_dir):
    out = tmp_path / "out"
    result = run_cli("--model", str(outlier_model_dir), "--out", str(out), "--int8", "--threads", "1")
    assert result.exit_code == GATE_EXIT_CODE, result.output
    assert "accuracy gate" in result.stderr and "kept the float model" in result.stderr
    assert "Traceback" not in result.output
    assert "macro F1 float" in result.stdout  # the before/after table is printed
    # the float model is kept and served; no INT8 file is left behind
    assert sorted(p.name for p in out.glob("*.onnx")) == ["model.onnx"]
    router = json.loads((out / "router.json").read_text())
    assert router["onnx_file"] == "model.onnx" and router["quantization"] == "float"
    report = json.loads((out / "quantize.json").read_text())
    assert report["decision"] == "rejected"
    assert report["f1_float"] - report["f1_quantized"] > 1.0
    assert report["max_abs_logit_diff"] < 1e-4  # the float export itself is faithful
    predictor = Predictor.load(out, threads=1)
    assert predictor.onnx_file == "model.onnx"


def test_gate_rejection_from_python(tmp_path, outlier_model_dir):
    with pytest.raises(GateRejected) as caught:
        quantize_model(
            QuantizeConfig(model=str(outlier_model_dir), out=str(tmp_path / "out"), int8=True, threads=1)
        )
    assert caught.value.exit_code == GATE_EXIT_CODE
    assert caught.value.result.f1_drop > 1.0 and caught.value.result.served_file == "model.onnx"


def test_force_keeps_the_int8_model(tmp_path, outlier_model_dir):
    out = tmp_path / "out"
    result = run_cli(
        "--model",
        str(outlier_model_dir),
        "--out",
        str(out),
        "--int8",
        "--force",
        "--threads",
        "1",
        "--json",
        str(tmp_path / "report.json"),
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "router.json").read_text())["onnx_file"] == "model_int8.onnx"
    assert json.loads((tmp_path / "report.json").read_text())["decision"] == "forced"


def test_tolerance_decides(tmp_path, outlier_model_dir):
    """A drop within a (very generous) tolerance passes when the agreement minimum is off too."""
    result = quantize_model(
        QuantizeConfig(
            model=str(outlier_model_dir),
            out=str(tmp_path / "out"),
            int8=True,
            tolerance=100,
            min_agreement=0.0,
            threads=1,
        )
    )
    assert result.decision == "accepted" and result.served_file == "model_int8.onnx"


def test_no_validation_split_needs_force(tmp_path, tiny_classifier_dir):
    model = tmp_path / "model"
    shutil.copytree(tiny_classifier_dir, model)
    (model / "split.json").unlink()
    result = run_cli("--model", str(model), "--out", str(tmp_path / "out"), "--int8")
    assert result.exit_code == 2 and "cannot run the accuracy gate" in result.stderr
    assert not (tmp_path / "out").exists()
    forced = quantize_model(
        QuantizeConfig(model=str(model), out=str(tmp_path / "out"), int8=True, force=True, threads=1)
    )
    assert forced.decision == "ungated" and any("no accuracy gate" in n for n in forced.notes)


def test_data_override_finds_the_validation_rows(tmp_path, tiny_classifier_dir):
    model = tmp_path / "model"
    shutil.copytree(tiny_classifier_dir, model)
    router = json.loads((model / "router.json").read_text())
    data = router["data"]["path"]
    router["data"]["path"] = str(tmp_path / "moved.csv")
    (model / "router.json").write_text(json.dumps(router))
    missing = run_cli("--model", str(model), "--out", str(tmp_path / "out"), "--int8")
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    result = quantize_model(
        QuantizeConfig(model=str(model), out=str(tmp_path / "out"), int8=True, data=data, threads=1)
    )
    assert result.n_val > 10 and result.decision == "accepted"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--static"], "--static needs --int8"),
        (["--int8", "--fp16"], "exclude each other"),
        (["--int8", "--static", "--calib-method", "kl"], "--calib-method"),
        (["--calib-data", "x.txt"], "--calib-data needs"),
        (["--int8", "--backend", "tensorrt"], "--backend"),
        (["--int8", "--scheme", "nf4"], "--scheme 'nf4'"),
        (["--scheme", "blockwise"], "--scheme blockwise needs --int8 without --static"),
        (["--int8", "--static", "--scheme", "auto"], "--scheme auto needs --int8 without --static"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, tiny_classifier_dir, args, message):
    result = run_cli("--model", str(tiny_classifier_dir), "--out", str(tmp_path / "out"), *args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_inc_backend_without_neural_compressor(tmp_path, tiny_classifier_dir):
    from llm_router.quantize.inc import inc_available

    if inc_available():
        pytest.skip("neural-compressor is installed")
    result = run_cli(
        "--model", str(tiny_classifier_dir), "--out", str(tmp_path / "out"), "--int8", "--backend", "inc"
    )
    assert result.exit_code == 2 and "pip install 'llm-router[inc]'" in result.stderr


def test_model_that_cannot_be_quantised(tmp_path, tiny_classifier_dir):
    with pytest.raises(RouterError, match="--out must differ"):
        quantize_model(QuantizeConfig(model=str(tiny_classifier_dir), out=str(tiny_classifier_dir)))
    result = run_cli("--model", str(tmp_path / "nope"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "no such model" in result.stderr


def test_inc_backend_accuracy_aware_tuning(tmp_path, tiny_classifier_dir, outlier_model_dir):
    """Runs only where the optional onnx-neural-compressor is installed."""
    pytest.importorskip("onnx_neural_compressor.quantization.tuning")
    result = quantize_model(
        QuantizeConfig(
            model=str(tiny_classifier_dir), out=str(tmp_path / "ok"), int8=True, backend="inc", threads=1
        )
    )
    assert result.decision == "accepted" and result.served_file == "model_int8.onnx"
    assert result.mode == "inc-int8-dynamic" and any("Neural Compressor" in n for n in result.notes)
    with pytest.raises(GateRejected):  # static INT8 of the outlier model: no recipe stays within 1 point
        quantize_model(
            QuantizeConfig(
                model=str(outlier_model_dir),
                out=str(tmp_path / "bad"),
                int8=True,
                static=True,
                backend="inc",
                threads=1,
            )
        )
    assert sorted(p.name for p in (tmp_path / "bad").glob("*.onnx")) == ["model.onnx"]


def test_the_gate_routes_a_dynamic_int8_file_one_text_at_a_time(tmp_path, tiny_classifier_dir, monkeypatch):
    """As it is served: batched, a dynamic INT8 file's answers depend on the batch."""
    from llm_router.runtime import onnx_backend

    made = []
    original = onnx_backend.OnnxPredictor.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append((self.onnx_file, self.per_text))

    monkeypatch.setattr(onnx_backend.OnnxPredictor, "__init__", spy)
    quantize_model(
        QuantizeConfig(model=str(tiny_classifier_dir), out=str(tmp_path / "q"), int8=True, threads=1)
    )
    assert ("model_int8.onnx", True) in made  # the gate's predictor
    assert ("model.onnx", False) in made  # the float reference, batched
