"""Evaluation: metrics (`classification_report`), scoring any model artefact (`evaluate`), figures (`plots`)."""

from llm_router.eval.evaluate import evaluate, held_out_split, print_report
from llm_router.eval.metrics import bootstrap_macro_f1, classification_report

__all__ = [
    "bootstrap_macro_f1",
    "classification_report",
    "evaluate",
    "held_out_split",
    "print_report",
]
