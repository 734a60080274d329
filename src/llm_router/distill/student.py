"""Student models: what `router distill --student SPEC` builds before training.

- ``layers:K`` - a TinyBERT-style student cut from the teacher itself: its embeddings (the whole vocabulary by
  default; pruned to the transfer texts with ``prune_vocab``), K of its encoder layers (the first K-1 and the
  last, see :func:`start_layers`), pooler and classifier. Same width as the teacher, so hidden states and
  attention maps can be matched layer to layer without projections: student layer m is trained to reproduce the
  output of teacher layer ``select_layers`` [m] (evenly spaced, the last one the teacher's last).
- ``layers:i,j,...`` - the same, started from the teacher layers named (0-based, increasing), e.g.
  ``layers:2,5,8,11`` (TinyBERT's uniform start); the layers matched stay the evenly spaced ones, so only the
  starting point changes. On the demo set's 12-layer teacher the first K layers, which still compute one after
  another as in the teacher, beat the evenly spaced start by 2 points of agreement with the teacher over 3 seeds;
  on RouterBench's 6-layer teacher the evenly spaced start won by 3.6. The first K-1 and the last, the default,
  tied the first K on the demo set and beat it by 3.5 and 3.9 points on the seed file and RouterBench
  (docs/DISTILLATION.md, "RouterBench: the start").
- any Hugging Face model name or folder (``huawei-noah/TinyBERT_General_4L_312D``,
  ``sentence-transformers/all-MiniLM-L6-v2``): a fresh sequence-classification head on that encoder, its own
  tokenizer, trained on the teacher's soft labels only (no layer matching: widths differ).
- ``static`` - a model2vec static-embedding model distilled from the teacher's encoder plus a linear head
  (see :mod:`llm_router.distill.static`).
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_router.errors import RouterError
from llm_router.utils.layers import LAYER_KEY, keep_config_layers


@dataclass(frozen=True)
class StudentSpec:
    """A parsed ``--student`` value: ``kind`` is ``layers``, ``hf`` or ``static``."""

    kind: str
    num_layers: int | None = None
    model_name: str | None = None
    init_layers: tuple[int, ...] | None = (
        None  # teacher layers that initialise the student (None: evenly spaced)
    )

    def __str__(self) -> str:
        if self.kind == "layers":
            if self.init_layers is not None:
                return "layers:" + ",".join(str(i) for i in self.init_layers)
            return f"layers:{self.num_layers}"
        return self.model_name if self.kind == "hf" else "static"


def parse_student_spec(spec: str) -> StudentSpec:
    """``layers:K`` | ``layers:i,j,...`` | ``static`` | a Hugging Face model id or local folder."""
    spec = (spec or "").strip()
    if not spec:
        raise RouterError("empty --student (use layers:K, static, or a model name)")
    if spec == "static":
        return StudentSpec("static")
    if spec.startswith("layers:") or spec.startswith("layers="):
        value = spec.split(":", 1)[-1] if ":" in spec else spec.split("=", 1)[-1]
        if "," in value:
            try:
                init = tuple(int(v) for v in value.split(","))
            except ValueError:
                raise RouterError(
                    f"--student {spec!r}: layers:i,j,... takes teacher layer numbers (0-based integers)"
                ) from None
            if min(init) < 0 or list(init) != sorted(set(init)):
                raise RouterError(f"--student {spec!r}: teacher layers must be >= 0 and increasing")
            return StudentSpec("layers", num_layers=len(init), init_layers=init)
        try:
            k = int(value)
        except ValueError:
            raise RouterError(f"--student {spec!r}: K in layers:K must be an integer") from None
        if k < 1:
            raise RouterError(f"--student {spec!r}: need at least one layer")
        return StudentSpec("layers", num_layers=k)
    return StudentSpec("hf", model_name=spec)


def select_layers(num_teacher_layers: int, num_student_layers: int) -> list[int]:
    """Which teacher layers (0-based) the student's layers are matched to: the last layer of each of K equal blocks.

    For 12 -> 4 that is [2, 5, 8, 11], TinyBERT's uniform mapping g(m) = 3m: with hidden-state matching, student
    layer m learns to reproduce teacher layer 3m+2's output. The last one is the teacher's last layer, the one the
    pooler and classifier were trained on top of."""
    _check_depth(num_teacher_layers, num_student_layers)
    n, k = num_teacher_layers, num_student_layers
    return [round((m + 1) * n / k) - 1 for m in range(k)]


def _check_depth(num_teacher_layers: int, num_student_layers: int) -> None:
    if num_student_layers > num_teacher_layers:
        raise RouterError(
            f"a layers:{num_student_layers} student cannot be cut from a {num_teacher_layers}-layer teacher"
        )


def start_layers(
    num_teacher_layers: int, num_student_layers: int, init_layers: tuple[int, ...] | None = None
) -> list[int]:
    """The teacher layers that a student's layers start as: ``init_layers`` when named, else the teacher's first
    K-1 layers and its last (12 -> 4: [0, 1, 2, 11]; 6 -> 4: [0, 1, 2, 5]).

    The first layers still compute one after another as in the teacher; the last is the one the pooler and
    classifier were trained on top of. Of the starts measured in docs/DISTILLATION.md (first K, evenly spaced,
    first K-1 + last) the only one that lost on none of the three sets."""
    if init_layers is not None:
        return list(init_layers)
    _check_depth(num_teacher_layers, num_student_layers)
    return [*range(num_student_layers - 1), num_teacher_layers - 1]


def layer_student(
    teacher, num_layers: int, kept_ids: list[int] | None = None, init_layers: tuple[int, ...] | None = None
):
    """A new ``AutoModelForSequenceClassification`` with ``num_layers`` layers, initialised from ``teacher``:
    every non-layer weight copied (embedding rows sliced to ``kept_ids`` when given), student layer m copied from
    teacher layer ``start_layers(...)[m]`` (default: the teacher's first ``num_layers`` - 1 and its last). Returns
    ``(student, layer_map)``, the map being the teacher layers whose outputs the student's layers are matched to
    (always ``select_layers``)."""
    import copy

    import torch
    from transformers import AutoModelForSequenceClassification

    from llm_router.distill.vocab import SPECIAL_ID_ATTRS

    layer_map = select_layers(teacher.config.num_hidden_layers, num_layers)
    init = start_layers(teacher.config.num_hidden_layers, num_layers, init_layers)
    if len(init) != num_layers or init[-1] >= teacher.config.num_hidden_layers:
        raise RouterError(
            f"student layers {init} cannot be cut from a {teacher.config.num_hidden_layers}-layer teacher"
        )
    config = copy.deepcopy(teacher.config)
    keep_config_layers(config, init)
    embedding_key = None
    emb_weight = teacher.get_input_embeddings().weight
    for name, param in teacher.named_parameters():
        if param is emb_weight:
            embedding_key = name
    if kept_ids is not None:
        config.vocab_size = len(kept_ids)
        old_to_new = {old: new for new, old in enumerate(kept_ids)}
        for attr in SPECIAL_ID_ATTRS:
            value = getattr(config, attr, None)
            if isinstance(value, int):
                setattr(config, attr, old_to_new.get(value))
    attn = getattr(teacher.config, "_attn_implementation", None)
    student = AutoModelForSequenceClassification.from_config(config, attn_implementation=attn)

    inverse = {t: s for s, t in enumerate(init)}
    state = {}
    for key, value in teacher.state_dict().items():
        match = LAYER_KEY.match(key)
        if match and not key.startswith(("classifier", "score")):
            idx = int(match["idx"])
            if idx not in inverse:
                continue
            key = f"{match['head']}.{inverse[idx]}.{match['tail']}"
        elif key == embedding_key and kept_ids is not None:
            value = value[torch.as_tensor(kept_ids, dtype=torch.long)]
        state[key] = value.clone()
    missing, unexpected = student.load_state_dict(state, strict=False)
    # Buffers such as position_ids may legitimately be absent from a state dict; weights may not.
    missing = [k for k in missing if not k.endswith(("position_ids", "token_type_ids"))]
    if missing or unexpected:
        raise RouterError(
            f"cannot map the teacher's weights onto a {num_layers}-layer student "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    return student, layer_map


def hf_student(model_name: str, labels: list[str]):
    """A sequence classifier on the encoder ``model_name`` (hub id or folder; resolved offline-first through
    :func:`llm_router.models.resolve`) with a fresh head for ``labels``, and its tokenizer."""
    from transformers import AutoModelForSequenceClassification

    from llm_router.models import resolve
    from llm_router.utils import load_tokenizer

    path = str(resolve(model_name))
    id2label = dict(enumerate(labels))
    try:
        tokenizer = load_tokenizer(path)
        model = AutoModelForSequenceClassification.from_pretrained(
            path,
            num_labels=len(labels),
            id2label=id2label,
            label2id={v: k for k, v in id2label.items()},
            ignore_mismatched_sizes=True,
        )
    except OSError as exc:
        raise RouterError(f"cannot load student model {model_name!r}: {str(exc).splitlines()[0]}") from None
    return model, tokenizer
