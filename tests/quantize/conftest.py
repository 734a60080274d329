"""Fixtures of the quantisation tests: a model whose INT8 version provably loses accuracy."""

import shutil

import pytest


@pytest.fixture(scope="session")
def outlier_model_dir(tmp_path_factory, tiny_classifier_dir):
    """The tiny classifier with one huge activation channel that the float model ignores.

    The last layer norm scales hidden unit 0 by 1e4 and the pooler's weights on that unit are zero, so float
    predictions are exactly those of the original model. Dynamic INT8 quantises the pooler's input with one scale
    per tensor, set by the outlier, so every other unit rounds to zero and the model predicts one route for
    everything: the well-known activation-outlier failure of INT8, provoked deterministically.
    """
    import torch
    from transformers import AutoModelForSequenceClassification

    folder = tmp_path_factory.mktemp("outlier") / "model"
    shutil.copytree(tiny_classifier_dir, folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    with torch.no_grad():
        norm = model.bert.encoder.layer[-1].output.LayerNorm
        norm.weight[0] = 1e4
        norm.bias[0] = 0.0
        model.bert.pooler.dense.weight[:, 0] = 0.0
    model.save_pretrained(folder)
    return folder
