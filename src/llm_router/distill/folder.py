"""What every student folder holds besides its weights: the teacher's ``router.json`` fields with the student's
changes, the teacher's ``split.json`` (same held-out rows), ``train_config.json`` (the :class:`DistillConfig` and
the teacher), ``metrics.json``, ``distill.json`` and, for trained students, ``history.json`` + its curves."""

from __future__ import annotations

from pathlib import Path

from llm_router.distill.config import DistillConfig
from llm_router.persistence import FolderData, write_model_files


def write_student_files(
    tmp: Path,
    teacher: FolderData,
    router: dict,
    config: DistillConfig,
    metrics: dict,
    info: dict,
    history: list[dict],
) -> None:
    from llm_router.eval.plots import training_curves_png

    records = {
        "train_config.json": {**config.to_dict(), "teacher": str(teacher.path)},
        "metrics.json": metrics or None,
        "distill.json": info,
        "history.json": history or None,
    }
    write_model_files(tmp, router, split_from=teacher.path, records=records)
    if history:
        training_curves_png(history, tmp / "training_curves.png", title=f"distill {router.get('student')}")
