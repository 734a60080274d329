"""The accuracy gate of `router quantize`, with statistical power.

A validation split of a few dozen texts cannot tell a real INT8 loss from noise (on 39 texts one prediction is 2.5
points of accuracy). The gate therefore judges the quantised model on two questions:

1. **Does it decide like the float model?** Agreement (same route) between the float and the quantised ONNX model
   over *many* texts: the training and validation texts of ``split.json`` plus, when available, transfer texts
   (``--gate-texts FILE``, or the ``unlabeled`` file named in the source folder's ``train_config.json``). No labels
   are needed, so every text counts; the test split stays untouched. Reported with a Wilson 95% interval.
2. **Does it lose macro F1 on labelled data?** The F1 change (quantised - float, in points) on the validation split,
   with a paired bootstrap 95% interval (both models scored on the same resamples).

It refuses only a loss that is real: agreement below ``min_agreement`` (default 0.97) over all the texts, or on the
validation texts alone with the whole Wilson interval below it (a teacher is confident on its training texts, so
they rarely flip and can hide a loss on held-out texts), or a validation F1 change whose whole interval lies below
``-tolerance``. A point drop larger than the tolerance with an interval that
reaches back above it is accepted, with a note. Everything is recorded in ``quantize.json`` under ``gate``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llm_router.errors import RouterError
from llm_router.eval.metrics import f1_change_interval


@dataclass
class GateConfig:
    """How the gate decides (the ``router quantize`` options of the same names)."""

    min_agreement: float = 0.97  # refuse when float and quantised routes agree on fewer of the gate texts
    tolerance: float = 1.0  # F1 points: refuse when the F1-change interval lies entirely below -tolerance
    n_boot: int = 1000  # bootstrap resamples of the validation rows
    confidence: float = 0.95  # of the F1-change interval
    max_texts: int = (
        4000  # agreement texts (a seeded sample when there are more; validation texts always kept)
    )
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_agreement <= 1.0:
            raise RouterError(
                f"bad quantize option: --min-agreement must be in [0, 1] (got {self.min_agreement})"
            )
        if not 0.5 <= self.confidence < 1.0:
            raise RouterError(f"bad quantize option: confidence must be in [0.5, 1) (got {self.confidence})")
        if self.max_texts < 1:
            raise RouterError(f"bad quantize option: max gate texts must be >= 1 (got {self.max_texts})")


SOURCES = ("val", "train", "transfer")


@dataclass
class GateTexts:
    """The texts the agreement is measured on, and how many came from where."""

    texts: list[str]
    origins: list[str]  # each text's source, in order: one of SOURCES

    @property
    def sources(self) -> dict[str, int]:
        """How many texts came from each source."""
        return {name: self.origins.count(name) for name in SOURCES}


@dataclass
class GateVerdict:
    """What the gate measured and decided; ``quantize.json`` keeps it as ``gate``."""

    decision: str  # "accepted" | "rejected"
    reason: str
    n_agreement_texts: int
    sources: dict[str, int]
    agreement: float
    agreement_ci95: list[float]
    min_agreement: float
    n_val: int
    f1_change: float  # points, quantised - float, on the validation split
    f1_change_ci: list[float]
    confidence: float
    tolerance: float
    n_boot: int
    # agreement on each source's texts: the training texts hide flips (a teacher is confident on them), so a high
    # pooled agreement can sit beside a low one on the validation texts
    agreement_by_source: dict[str, float] | None = None
    val_agreement_ci95: list[float] | None = None  # Wilson interval of the agreement on the validation texts

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _transfer_file(source: Path) -> Path | None:
    """The unlabelled transfer texts named in the source folder's ``train_config.json`` (a distilled student)."""
    config_file = source / "train_config.json"
    if not config_file.exists():
        return None
    from llm_router.utils import read_json

    try:
        path = read_json(config_file).get("unlabeled")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(path) if path and Path(path).exists() else None


def collect_gate_texts(
    val_texts: Sequence[str],
    train_texts: Sequence[str],
    transfer_texts: Sequence[str],
    max_texts: int,
    seed: int = 0,
) -> GateTexts:
    """Validation texts first (always kept), then training and transfer texts, deduplicated; a seeded sample of
    the others when there are more than ``max_texts`` in all."""
    seen: set[str] = set()
    groups: dict[str, list[str]] = {}
    for name, texts in zip(SOURCES, (val_texts, train_texts, transfer_texts), strict=True):
        kept = []
        for text in texts:
            if text and text not in seen:
                seen.add(text)
                kept.append(text)
        groups[name] = kept
    room = max(0, max_texts - len(groups["val"]))
    others = [(name, t) for name in ("train", "transfer") for t in groups[name]]
    if len(others) > room:
        others = random.Random(seed).sample(others, room)
    return GateTexts(
        list(groups["val"]) + [t for _n, t in others],
        ["val"] * len(groups["val"]) + [n for n, _t in others],
    )


def gate_texts_for(
    source: Path,
    info,
    data_override: str | None,
    extra_file: str | None,
    val_texts: Sequence[str],
    config: GateConfig,
) -> GateTexts:
    """The agreement texts of a model folder: its validation and training texts (``split.json``) and its transfer
    texts (``extra_file``, else ``train_config.json``'s ``unlabeled`` file, when it exists)."""
    from llm_router.quantize.core import read_texts, split_rows

    train, _reason = split_rows(source, info, data_override, ("train",))
    transfer: list[str] = []
    path = Path(extra_file).expanduser() if extra_file else _transfer_file(source)
    if path is not None:
        transfer = read_texts(path, (info.data or {}).get("text_col", "text"))
    return collect_gate_texts(
        val_texts, train.texts if train else [], transfer, config.max_texts, config.seed
    )


def held_out_loss(same: int, n: int, min_agreement: float) -> tuple[float, float, bool]:
    """The Wilson 95% interval of ``same`` agreeing of ``n`` validation texts, and whether their loss is real:
    the interval's upper end below ``min_agreement`` (the gate's check, and ``--scheme auto``'s)."""
    from llm_router.eval.metrics import wilson_interval

    lo, hi = wilson_interval(same, n)
    return lo, hi, n > 0 and hi < min_agreement


def choose_scheme(
    float_routes: Sequence[str],
    dynamic_routes: Sequence[str],
    blockwise_routes: Sequence[str],
    alpha: float = 0.05,
    min_agreement: float | None = None,
) -> dict[str, Any]:
    """Dynamic or blockwise INT8 (``router quantize --scheme auto``), from their routes on the validation texts.

    The faster dynamic file stays unless the blockwise one flips significantly fewer routes against the float
    model: an exact one-sided McNemar test on the texts where exactly one of the two flips (``p < alpha``) - or
    unless the dynamic file would fail the gate's check on these texts (the upper end of their Wilson interval
    below ``min_agreement``) and the blockwise one flips fewer. Validation texts, not training texts: a teacher
    is confident on its own training texts and INT8 flips none of them (seed teacher: 0 of 267 training texts,
    6 of 39 validation texts), so they dilute the test."""
    n = len(float_routes)
    dyn_flips = [a != b for a, b in zip(float_routes, dynamic_routes, strict=True)]
    blk_flips = [a != b for a, b in zip(float_routes, blockwise_routes, strict=True)]
    only_dynamic = sum(d and not b for d, b in zip(dyn_flips, blk_flips, strict=True))
    only_blockwise = sum(b and not d for d, b in zip(dyn_flips, blk_flips, strict=True))
    discordant = only_dynamic + only_blockwise
    # P(X >= only_dynamic), X ~ Binomial(discordant, 1/2): how often chance alone would favour blockwise this much
    p_value = sum(math.comb(discordant, k) for k in range(only_dynamic, discordant + 1)) / 2**discordant
    dynamic_fails = min_agreement is not None and held_out_loss(n - sum(dyn_flips), n, min_agreement)[2]
    if p_value < alpha:
        chosen, verdict = "blockwise", "significantly fewer"
    elif dynamic_fails and sum(blk_flips) < sum(dyn_flips):
        chosen, verdict = "blockwise", "fewer, and the dynamic file would fail the gate on them"
    else:
        chosen, verdict = "dynamic", "not significantly fewer"
    return {
        "chosen": chosen,
        "n_val": n,
        "dynamic_flips": sum(dyn_flips),
        "blockwise_flips": sum(blk_flips),
        "only_dynamic": only_dynamic,
        "only_blockwise": only_blockwise,
        "p_value": round(p_value, 5),
        "alpha": alpha,
        "reason": (
            f"{chosen}: dynamic INT8 flipped {sum(dyn_flips)} of {n} validation routes, blockwise "
            f"{sum(blk_flips)} ({verdict}: exact McNemar p = {p_value:.3g}, alpha {alpha:g})"
        ),
    }


def judge(
    float_routes: Sequence[str],
    quant_routes: Sequence[str],
    sources: dict[str, int],
    val_truths: Sequence[str],
    routes: Sequence[str],
    config: GateConfig,
    origins: Sequence[str] | None = None,
) -> GateVerdict:
    """Decide on the gate texts' routes (validation texts first, ``len(val_truths)`` of them); ``origins`` (each
    text's source) adds the agreement per source to the verdict."""
    from llm_router.eval.metrics import wilson_interval

    n = len(float_routes)
    same = int(sum(a == b for a, b in zip(float_routes, quant_routes, strict=True)))
    agreement = same / n if n else 1.0
    lo, hi = wilson_interval(same, n)
    n_val = len(val_truths)
    change, (c_lo, c_hi) = f1_change_interval(
        val_truths,
        float_routes[:n_val],
        quant_routes[:n_val],
        routes,
        config.n_boot,
        config.confidence,
        config.seed,
    )
    reasons = []
    if agreement < config.min_agreement:
        reasons.append(
            f"the quantised model routes {100 * (1 - agreement):.1f}% of {n} texts differently from the float "
            f"model (agreement {100 * agreement:.1f}% < {100 * config.min_agreement:g}%)"
        )
    if c_hi < -config.tolerance:
        reasons.append(
            f"validation macro F1 changes {change:+.2f} points, {100 * config.confidence:g}% interval "
            f"[{c_lo:+.2f}, {c_hi:+.2f}] entirely below -{config.tolerance:g}"
        )
    # the validation texts alone (the first n_val): held out from training, they show flips that a teacher's
    # confident training texts dilute in the pooled figure (seed teacher, dynamic INT8: 6 of 39 flipped, pooled
    # 98.0%); a loss is real when even their interval's upper end is below the minimum
    val_same = int(sum(a == b for a, b in zip(float_routes[:n_val], quant_routes[:n_val], strict=True)))
    val_lo, val_hi, val_loss = held_out_loss(val_same, n_val, config.min_agreement)
    if val_loss:
        reasons.append(
            f"on the {n_val} validation texts alone it routes {n_val - val_same} differently (agreement "
            f"{100 * val_same / n_val:.1f}%, 95% interval up to {100 * val_hi:.1f}% < "
            f"{100 * config.min_agreement:g}%)"
        )
    by_source = _agreement_by_source(float_routes, quant_routes, origins)
    per_source = (
        " (" + ", ".join(f"{name} {100 * a:.1f}%" for name, a in by_source.items()) + ")" if by_source else ""
    )
    if reasons:
        decision, reason = "rejected", "; ".join(reasons) + per_source
    else:
        decision = "accepted"
        reason = (
            f"agreement {100 * agreement:.1f}% on {n} texts{per_source} >= {100 * config.min_agreement:g}%; "
            f"validation F1 change {change:+.2f} points [{c_lo:+.2f}, {c_hi:+.2f}] not entirely below "
            f"-{config.tolerance:g}"
        )
    return GateVerdict(
        decision=decision,
        reason=reason,
        n_agreement_texts=n,
        sources=dict(sources),
        agreement=round(agreement, 5),
        agreement_ci95=[round(lo, 5), round(hi, 5)],
        min_agreement=config.min_agreement,
        n_val=n_val,
        f1_change=round(change, 4),
        f1_change_ci=[round(c_lo, 4), round(c_hi, 4)],
        confidence=config.confidence,
        tolerance=config.tolerance,
        n_boot=config.n_boot,
        agreement_by_source=by_source,
        val_agreement_ci95=[round(val_lo, 5), round(val_hi, 5)] if n_val else None,
    )


def _agreement_by_source(
    float_routes: Sequence[str], quant_routes: Sequence[str], origins: Sequence[str] | None
) -> dict[str, float] | None:
    if origins is None:
        return None
    if len(origins) != len(float_routes):
        raise RouterError(f"{len(origins)} text origins for {len(float_routes)} gate texts")
    by_source: dict[str, list[bool]] = {}
    for origin, a, b in zip(origins, float_routes, quant_routes, strict=True):
        by_source.setdefault(origin, []).append(a == b)
    return {name: round(sum(same) / len(same), 5) for name, same in by_source.items()}
