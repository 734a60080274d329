"""SetFit (``--method setfit``): contrastive fine-tuning of the sentence-embedding body, then a classification head.

Stage 1 is SetFit's own: the body (the encoder with the model profile's pooling) is trained with
:class:`setfit.Trainer` on generated same-class / different-class pairs (``setfit_iterations`` pairs of each kind
per example, cosine-similarity loss). Pairs let a class with a dozen examples shape the embedding space as much as
a big one, which is what helps few-shot minority classes.

Stage 2 differs from SetFit's default logistic-regression head, so that the result is the same artefact as
``--method finetune`` (a standard ``AutoModelForSequenceClassification`` folder that the runtime, ONNX export and
distillation stages read): a sequence-classification head is put on the contrastively trained body and trained with
the regular loop of :func:`llm_router.train.finetune.fit_finetune` (class weights, epochs, early stopping and all) - SetFit's
``end_to_end`` mode, with the usual head.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from llm_router.errors import RouterError
from llm_router.train.config import TrainConfig
from llm_router.train.finetune import (
    FitResult,
    fit_finetune,
    freeze_word_embeddings,
    quiet_transformers,
)
from llm_router.train.layer_cache import freeze_bottom, frozen_bottom
from llm_router.train.targets import TARGET, Targets, training_rows
from llm_router.utils.progress import Bar
from llm_router.utils.seeding import set_seed, set_threads


@contextlib.contextmanager
def _quiet_setfit():
    """No per-step prints, 'Map' bars or '***** Running training *****' banners from setfit / datasets."""
    import datasets

    loggers = [logging.getLogger(name) for name in ("setfit", "sentence_transformers", "datasets")]
    levels = [lg.level for lg in loggers]
    bars_were_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
        if bars_were_on:
            datasets.enable_progress_bars()


def _progress_callback(bar: Bar):
    from transformers import TrainerCallback

    class AdvanceBar(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            bar.advance(info=f"contrastive step {state.global_step}/{state.max_steps}")

    return AdvanceBar()


def train_setfit_body(
    train_df: pd.DataFrame, config: TrainConfig, targets: Targets, out_dir: Path, progress=None
) -> float:
    """Stage 1: contrastive training of the body; writes it as a plain HF encoder folder into ``out_dir``.
    Returns the seconds it took."""
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    from llm_router.models import model_profile, resolve

    start = time.perf_counter()
    profile = model_profile(config.model)
    max_length = config.max_length or profile.max_length
    with quiet_transformers(), _quiet_setfit():
        try:
            model = SetFitModel.from_pretrained(str(resolve(config.model)), device="cpu")
        except (OSError, ValueError) as exc:
            raise RouterError(
                f"cannot load model {config.model!r} for SetFit: {str(exc).splitlines()[0]}"
            ) from None
    encoder = model.model_body[0].auto_model
    if config.freeze_embeddings:
        freeze_word_embeddings(encoder)
    frozen = frozen_bottom(encoder, config.trainable_layers)
    if frozen:  # no gradients below the trained top (the forward pass still runs: pairs change every step)
        freeze_bottom(encoder, frozen)
    label_index = {label: i for i, label in enumerate(targets.labels)}
    data = Dataset.from_dict(
        {
            "text": [profile.text_prefix + t for t in train_df["text"]],
            "label": [label_index[t] for t in train_df[TARGET]],
        }
    )
    with tempfile.TemporaryDirectory(prefix="setfit-") as scratch:
        args = TrainingArguments(
            output_dir=scratch,
            batch_size=config.batch_size,
            num_epochs=config.setfit_body_epochs,
            body_learning_rate=config.setfit_body_learning_rate,
            num_iterations=config.setfit_iterations,
            sampling_strategy="oversampling",
            max_length=max_length,
            seed=config.seed,
            warmup_proportion=config.warmup_ratio,
            report_to="none",
            save_strategy="no",
            logging_strategy="no",
            show_progress_bar=False,
        )
        n_pairs = 2 * config.setfit_iterations * len(data)
        bar = Bar(progress, "setfit body", config.setfit_body_epochs * -(-n_pairs // config.batch_size))
        with quiet_transformers(), _quiet_setfit():
            trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[_progress_callback(bar)])
            trainer.st_trainer.remove_callback(PrinterCallback)
            trainer.train_embeddings(data["text"], data["label"], args=args)
        bar.close()
    encoder.save_pretrained(out_dir)
    model.model_body.tokenizer.save_pretrained(out_dir)
    return time.perf_counter() - start


def fit_setfit(
    train_df: pd.DataFrame,
    val_df: pd.DataFrame | None,
    config: TrainConfig,
    targets: Targets,
    *,
    exclude_texts: Sequence[str] = (),
    progress=None,
    started_at: float | None = None,
    predict_after: int = 0,
) -> FitResult:
    """SetFit's two stages; returns the same :class:`FitResult` as :func:`~llm_router.train.finetune.fit_finetune`.
    The time budget covers both: the contrastive stage's time is spent when the head's fine-tuning plans."""
    started_at = time.perf_counter() if started_at is None else started_at
    set_threads(config.threads)
    set_seed(config.seed)
    rows = training_rows(train_df, config, exclude_texts=exclude_texts)
    with tempfile.TemporaryDirectory(prefix="setfit-body-") as body_dir:
        body_seconds = train_setfit_body(rows, config, targets, Path(body_dir), progress)
        result = fit_finetune(
            train_df,
            val_df,
            config,
            targets,
            exclude_texts=exclude_texts,
            progress=progress,
            init_from=body_dir,
            started_at=started_at,
            predict_after=predict_after,
        )
    result.history.insert(
        0,
        {
            "epoch": 0,
            "stage": "setfit-contrastive",
            "train_loss": None,
            "val_macro_f1": None,
            "val_accuracy": None,
            "lr": config.setfit_body_learning_rate,
            "seconds": round(body_seconds, 2),
        },
    )
    result.seconds += body_seconds
    return result
