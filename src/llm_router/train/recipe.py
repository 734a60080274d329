"""The training recipe chosen from the data: encoder, max_length, class weights, and epochs within a time budget.

Defaults tuned on one data set (383 short Korean queries) fail on others: English prompts of a few hundred tokens
were cut at 64, and a 4.5k-prompt set took 21 minutes. Here the fields a user leaves on ``"auto"`` (or ``None``
for ``max_length``) are decided from the training split, each with its reason, and ``train_config.json`` keeps
what was chosen and why (``recipe``):

1. ``model="auto"``: an English-only training set (>= 98 % of texts in Latin script) gets all-MiniLM-L6-v2 (faster,
   and 0.388 vs 0.378 macro F1 against multilingual-e5-small on RouterBench, docs/ABLATION.md); anything else gets
   multilingual-e5-small, the one offline encoder that reads Korean and Japanese.
2. ``max_length=None``: a high percentile of the training texts' token lengths (:mod:`llm_router.data.lengths`).
3. ``class_weights="auto"``: ``balanced`` when the largest class has >= 1.5x the rows of the smallest, else none.
4. ``time_budget_s``: the whole training - caching, LP-FT, epochs, validation, and the prediction of the test split
   after it - planned to end within the budget (:class:`llm_router.train.finetune.TrainingCost`, from a timed
   probe scaled by padded tokens): fewer epochs, and fewer trained layers when fewer than ``MIN_BUDGET_EPOCHS``
   epochs would fit; after each epoch the plan is checked against the epochs' measured time and shortened if it
   would overrun (the learning rate then decays to zero over the steps left).

The number of trained layers is not chosen from the data: on every set measured, training the top layers beat a
frozen encoder (seed: 0.761 vs 0.676), so ``trainable_layers`` keeps its tuned default unless the budget trims it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

AUTO = "auto"
ENGLISH_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MULTILINGUAL_MODEL = "intfloat/multilingual-e5-small"
ENGLISH_SHARE = 0.98  # share of Latin-script texts that makes a set "English-only"
WEIGHTING_RATIO = 1.5  # largest / smallest class count from which class weights are used


@dataclass(frozen=True)
class Choice:
    """One decision of the recipe: the field, the value it got, and why."""

    field: str
    value: Any
    reason: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def choose_encoder(texts: Sequence[str]) -> Choice:
    """MiniLM for English-only texts, multilingual-e5-small otherwise (see the module docstring)."""
    from llm_router.data.analyze import text_script

    scripts = [text_script(t) for t in texts]
    written = [s for s in scripts if s != "other"] or scripts
    latin = sum(s == "latin" for s in written) / max(len(written), 1)
    if latin >= ENGLISH_SHARE:
        return Choice(
            "model", ENGLISH_MODEL, f"{latin:.0%} of the training texts are Latin-script: English encoder"
        )
    return Choice(
        "model",
        MULTILINGUAL_MODEL,
        f"only {latin:.0%} of the training texts are Latin-script: multilingual encoder",
    )


def choose_class_weights(labels: Sequence[str]) -> Choice:
    """``balanced`` when the classes are imbalanced (largest >= 1.5x smallest), else ``none``."""
    from collections import Counter

    counts = Counter(labels)
    ratio = max(counts.values()) / max(min(counts.values()), 1)
    value = "balanced" if ratio >= WEIGHTING_RATIO else "none"
    return Choice("class_weights", value, f"largest class {ratio:.1f}x the smallest")


def choose_length(config, texts: Sequence[str]) -> Choice:
    """``max_length`` from the token lengths of ``texts`` with the model's tokenizer and text prefix."""
    from llm_router.data.lengths import choose_max_length, token_lengths
    from llm_router.models import model_profile, resolve
    from llm_router.utils import load_tokenizer

    profile = model_profile(config.model)
    tokenizer = load_tokenizer(resolve(config.model))
    choice = choose_max_length(
        token_lengths(tokenizer, texts, profile.text_prefix), max_positions=profile.max_positions
    )
    return Choice("max_length", choice.max_length, choice.reason)


def resolve_recipe(config, train_df) -> tuple[Any, list[Choice]]:
    """``config`` with every ``auto`` field decided from ``train_df`` (columns text, label), and the choices."""
    choices: list[Choice] = []
    texts = train_df["text"].tolist()
    if config.model == AUTO:
        choices.append(choose_encoder(texts))
    if config.class_weights == AUTO:
        choices.append(choose_class_weights(train_df["label"].tolist()))
    config = dataclasses.replace(config, **{c.field: c.value for c in choices})
    if config.max_length is None:
        choice = choose_length(config, texts)
        choices.append(choice)
        config = dataclasses.replace(config, max_length=choice.value)
    return config, choices


# the budget trains fewer layers rather than fewer epochs than this (or than the configured epochs, if fewer)
MIN_BUDGET_EPOCHS = 3


def epochs_within_budget(config, seconds_left: float, epoch_seconds: float) -> Choice | None:
    """The epochs that fit in ``seconds_left`` at ``epoch_seconds`` each (at least 1), or None when all of
    ``config.epochs`` fit."""
    fit = max(1, math.floor(seconds_left / (epoch_seconds * config.soup)))
    if fit >= config.epochs:
        return None
    return Choice(
        "epochs",
        fit,
        f"time budget {config.time_budget_s:g} s: {config.epochs} epochs would need "
        f"{epoch_seconds * config.epochs * config.soup:.0f} s ({epoch_seconds:.0f} s per epoch estimated, "
        f"{max(seconds_left, 0):.0f} s left)",
    )


def layers_within_budget(config, cost, seconds_left: float, layers: int, want: int) -> Choice:
    """The most trained layers (below ``layers``) with which ``want`` epochs fit in ``seconds_left``; 1 when none
    do. ``cost``: a :class:`llm_router.train.finetune.TrainingCost`."""
    k = layers - 1
    while k > 1 and cost.epochs_that_fit(seconds_left - cost.retrim_s(k), k, config.soup) < want:
        k -= 1
    return Choice(
        "trainable_layers",
        k,
        f"time budget {config.time_budget_s:g} s: with {layers} trained layers "
        f"{max(cost.epochs_that_fit(seconds_left, layers, config.soup), 0)} epochs would fit, under {want}; "
        f"the top {k} train instead",
    )
