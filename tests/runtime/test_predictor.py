"""`Predictor` on the tiny models: same routes through PyTorch and ONNX Runtime, batching, prefixes, route maps."""

import json
import shutil

import numpy as np
import pytest

from llm_router.errors import RouterError
from llm_router.runtime import OnnxPredictor, Prediction, Predictor, StaticPredictor, TorchPredictor, softmax
from llm_router.utils import text_hash

TEXTS = [
    "hi teacher",
    "write a poem about the sea",
    "solve 12x + 3 = 27 for x",
    "what time is it in oslo",
    "debug my python function that parses dates",
    "draft a polite email to my landlord about coffee",
    "thanks, friend!",
    "compute the integral of 3x^2 from 0 to 9",
]


def val_texts(folder) -> list[str]:
    import pandas as pd

    router = json.loads((folder / "router.json").read_text())
    wanted = set(json.loads((folder / "split.json").read_text())["val"])
    df = pd.read_csv(router["data"]["path"])
    return [t for t in df["text"] if text_hash(t) in wanted]


def test_load_picks_backend_by_kind(tiny_classifier_dir, tiny_onnx_dir):
    torch_predictor = Predictor.load(tiny_classifier_dir, threads=1)
    onnx_predictor = Predictor.load(tiny_onnx_dir, threads=1)
    assert isinstance(torch_predictor, TorchPredictor) and torch_predictor.kind == "hf"
    assert isinstance(onnx_predictor, OnnxPredictor) and onnx_predictor.kind == "onnx"
    assert onnx_predictor.onnx_file == "model_int8.onnx"
    assert onnx_predictor.routes == torch_predictor.routes == ["Claude", "gemini-mini", "gpt-o1"]
    assert onnx_predictor.device == "cpu" and onnx_predictor.max_length == 48


def test_torch_and_onnx_give_the_same_routes(tiny_classifier_dir, tiny_onnx_dir):
    texts = TEXTS + val_texts(tiny_classifier_dir)
    torch_pred = Predictor.load(tiny_classifier_dir, threads=1).predict(texts)
    float_pred = OnnxPredictor.load(tiny_onnx_dir, threads=1, onnx_file="model.onnx").predict(texts)
    int8_pred = Predictor.load(tiny_onnx_dir, threads=1).predict(texts)
    assert float_pred.routes == torch_pred.routes
    np.testing.assert_allclose(float_pred.route_probs, torch_pred.route_probs, atol=1e-5)
    agreement = np.mean([a == b for a, b in zip(int8_pred.routes, torch_pred.routes, strict=True)])
    assert agreement >= 0.9
    np.testing.assert_allclose(int8_pred.route_probs.sum(axis=1), 1.0, atol=1e-5)


def _load(which, tiny_classifier_dir, tiny_onnx_dir):
    if which == "torch":
        return Predictor.load(tiny_classifier_dir, threads=1)
    onnx_file = "model.onnx" if which == "onnx-float" else "model_int8.onnx"
    return OnnxPredictor.load(tiny_onnx_dir, threads=1, onnx_file=onnx_file)


@pytest.mark.parametrize("which", ["torch", "onnx-float", "onnx-int8"])
def test_batched_predict_keeps_input_order(which, tiny_classifier_dir, tiny_onnx_dir):
    predictor = _load(which, tiny_classifier_dir, tiny_onnx_dir)
    batched = predictor.predict(TEXTS, batch_size=3)  # sorted by length inside, 3 uneven batches
    one_by_one = [predictor.predict_one(t) for t in TEXTS]
    singles = np.vstack([p.label_probs for p in one_by_one])
    assert isinstance(batched, Prediction) and len(batched) == len(TEXTS)
    assert batched.route_probs.shape == (len(TEXTS), 3)
    np.testing.assert_allclose(batched.route_probs.sum(axis=1), 1.0, atol=1e-5)
    if which == "onnx-int8":
        # Dynamic INT8 picks one activation scale per batch, and its kernels differ between CPUs (AVX2 vs
        # AVX-512 VNNI), so a batch and its rows alone give slightly different numbers on purpose: no tolerance
        # would hold on every x86-64 CPU. The order is proved on the float models above; here routes must agree.
        agreement = np.mean([b == p.routes[0] for b, p in zip(batched.routes, one_by_one, strict=True)])
        assert agreement >= 7 / 8
    else:
        # Float kernels: batch padding is masked, so the only differences are summation order (~1e-7).
        assert batched.routes == [p.routes[0] for p in one_by_one]
        np.testing.assert_allclose(batched.label_probs, singles, atol=1e-4)
    # the model was trained on these templates: most routes must be right
    expected = ["gemini-mini", "Claude", "gpt-o1", "gemini-mini", "gpt-o1", "Claude", "gemini-mini", "gpt-o1"]
    assert np.mean([a == b for a, b in zip(batched.routes, expected, strict=True)]) >= 0.75


def test_a_dynamic_int8_file_answers_each_text_as_it_would_alone(tiny_onnx_dir):
    """Dynamic INT8 scales a MatMul's input over the whole batch, so batched logits depend on the other texts and
    the padding; on the CPU such a file runs one text per call, and batching changes nothing."""
    texts = ["a", "how do I sort a list in python quickly and safely", "hi there", "translate this " * 8]
    int8 = Predictor.load(tiny_onnx_dir)
    assert int8.onnx_file == "model_int8.onnx" and int8.per_text
    alone = np.vstack([int8.predict_logits([t]) for t in texts])
    assert np.array_equal(int8.predict_logits(texts, batch_size=4), alone)
    float_file = Predictor.load(tiny_onnx_dir, onnx_file="model.onnx")
    assert not float_file.per_text  # float: batched (its padding is masked; differences are rounding only)
    np.testing.assert_allclose(
        float_file.predict_logits(texts, batch_size=4), float_file.predict_logits(texts, 1), atol=1e-4
    )
    assert not Predictor.load(
        tiny_onnx_dir, per_text=False
    ).per_text  # e.g. to measure what batching would do


def test_empty_and_single_string(tiny_onnx_dir):
    predictor = Predictor.load(tiny_onnx_dir, threads=1)
    empty = predictor.predict([])
    assert empty.routes == [] and empty.route_probs.shape == (0, 3)
    assert (
        predictor.predict("write a poem about autumn leaves").routes
        == predictor.predict_one("write a poem about autumn leaves").routes
    )


def test_tokenisation_truncates_and_does_not_pad_batch_one(tiny_onnx_dir):
    predictor = Predictor.load(tiny_onnx_dir, threads=1)
    long_text = "write a poem about the sea " * 40
    assert predictor.tokenizer.encode_one(long_text)["input_ids"].shape == (1, 48)
    one = predictor.tokenizer.encode_one("hi")
    assert one["input_ids"].shape == (1, 3) and one["attention_mask"].all()  # [CLS] hi [SEP], no padding
    batch = predictor.tokenizer.encode(["hi", "write a poem about the sea"])
    assert (
        batch["input_ids"].shape[1] == batch["attention_mask"].sum(axis=1).max()
    )  # padded to the longest only
    assert predictor.predict([long_text, "hi"]).route_probs.shape == (2, 3)


def test_explicit_thread_settings(tiny_onnx_dir):
    predictor = Predictor.load(tiny_onnx_dir, threads=2)
    options = predictor.session.get_session_options()
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert predictor.threads == 2
    with pytest.raises(RouterError, match="threads"):
        Predictor.load(tiny_onnx_dir, threads=-1)


def test_text_prefix_is_prepended(tmp_path, tiny_onnx_dir):
    folder = tmp_path / "prefixed"
    shutil.copytree(tiny_onnx_dir, folder)
    router = json.loads((folder / "router.json").read_text())
    router["text_prefix"] = "query: "
    (folder / "router.json").write_text(json.dumps(router))
    plain = Predictor.load(tiny_onnx_dir, threads=1)
    prefixed = Predictor.load(folder, threads=1)
    np.testing.assert_array_equal(
        prefixed.tokenizer.encode_one("hi")["input_ids"], plain.tokenizer.encode_one("query: hi")["input_ids"]
    )
    np.testing.assert_allclose(
        prefixed.predict_one("hi").label_probs, plain.predict_one("query: hi").label_probs
    )


def test_route_map_sums_label_probabilities(tmp_path, tiny_onnx_dir):
    folder = tmp_path / "mapped"
    shutil.copytree(tiny_onnx_dir, folder)
    router = json.loads((folder / "router.json").read_text())
    router.update(
        routes=["big", "small"], route_map={"Claude": "big", "gpt-o1": "big", "gemini-mini": "small"}
    )
    (folder / "router.json").write_text(json.dumps(router))
    plain = Predictor.load(tiny_onnx_dir, threads=1).predict(TEXTS)
    mapped = Predictor.load(folder, threads=1).predict(TEXTS)
    assert mapped.labels == plain.labels
    np.testing.assert_allclose(mapped.route_probs[:, 0], plain.label_probs[:, [0, 2]].sum(axis=1), atol=1e-6)
    np.testing.assert_allclose(mapped.route_probs[:, 1], plain.label_probs[:, 1], atol=1e-6)
    assert mapped.routes == ["big" if p[0] >= p[1] else "small" for p in mapped.route_probs]


def test_cuda_request_without_gpu_is_a_clear_error(tiny_classifier_dir, tiny_onnx_dir):
    import onnxruntime as ort
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(RouterError, match="no CUDA GPU"):
            Predictor.load(tiny_classifier_dir, device="cuda")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(RouterError, match="CUDAExecutionProvider"):
            Predictor.load(tiny_onnx_dir, device="cuda")
    with pytest.raises(RouterError, match="unknown device"):
        Predictor.load(tiny_onnx_dir, device="tpu")
    with pytest.raises(RouterError, match="float16 needs device cuda"):
        Predictor.load(tiny_classifier_dir, dtype="float16")
    with pytest.raises(RouterError, match="CUDA graphs"):
        Predictor.load(tiny_classifier_dir, static_shapes="graphs")


def test_bf16_on_cpu_gives_the_same_routes_mostly(tiny_classifier_dir):
    fp32 = Predictor.load(tiny_classifier_dir, threads=1).predict(TEXTS)
    bf16 = Predictor.load(tiny_classifier_dir, threads=1, dtype="bfloat16").predict(TEXTS)
    assert bf16.label_probs.dtype == np.float32
    assert np.mean([a == b for a, b in zip(fp32.routes, bf16.routes, strict=True)]) >= 0.75


def test_softmax_is_stable():
    probs = softmax(np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(probs[1], 1 / 3)
    assert probs[0, 0] == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------- static (model2vec)
@pytest.fixture(scope="module")
def tiny_static_dir(tmp_path_factory, tiny_classifier_dir):
    from model2vec import StaticModel
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tiny_classifier_dir / "tokenizer.json"))
    tokenizer.no_padding()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(tokenizer.get_vocab_size(), 16)).astype(np.float32)
    folder = tmp_path_factory.mktemp("tiny-static") / "model"
    StaticModel(vectors=vectors, tokenizer=tokenizer, normalize=True).save_pretrained(str(folder))
    np.savez(
        folder / "head.npz",
        coef=rng.normal(size=(3, 16)).astype(np.float32),
        intercept=np.array([0.1, -0.2, 0.0], dtype=np.float32),
    )
    router = {
        "format": "llm-router/1",
        "kind": "static",
        "labels": ["Claude", "gemini-mini", "gpt-o1"],
        "routes": ["Claude", "gemini-mini", "gpt-o1"],
        "route_map": None,
        "text_prefix": "",
        "max_length": 32,
    }
    (folder / "router.json").write_text(json.dumps(router))
    return folder


def test_static_predictor_is_softmax_of_linear_head(tiny_static_dir):
    from model2vec import StaticModel

    predictor = Predictor.load(tiny_static_dir)
    assert isinstance(predictor, StaticPredictor) and predictor.kind == "static"
    prediction = predictor.predict(TEXTS, batch_size=3)
    head = np.load(tiny_static_dir / "head.npz")
    embeddings = np.vstack(
        [StaticModel.from_pretrained(str(tiny_static_dir)).encode([t], max_length=32) for t in TEXTS]
    )
    expected = softmax(embeddings @ head["coef"].T + head["intercept"])
    np.testing.assert_allclose(prediction.label_probs, expected, atol=1e-5)
    assert prediction.routes == [predictor.routes[i] for i in expected.argmax(axis=1)]
    assert predictor.predict_one(TEXTS[0]).routes == prediction.routes[:1]


def test_static_predictor_checks_its_head(tmp_path, tiny_static_dir):
    folder = tmp_path / "bad-head"
    shutil.copytree(tiny_static_dir, folder)
    np.savez(folder / "head.npz", coef=np.zeros((2, 16)), intercept=np.zeros(2))
    with pytest.raises(RouterError, match="do not fit"):
        Predictor.load(folder)
    (folder / "head.npz").unlink()
    with pytest.raises(RouterError, match="no head.npz"):
        Predictor.load(folder)
