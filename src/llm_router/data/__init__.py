"""Data layer: load and validate labelled queries, analyse them, split them without leaks."""

from llm_router.data.analyze import analyze_dataset
from llm_router.data.load import DataWarning, demo_data_path, load_dataset, read_table
from llm_router.data.split import DataSplit, DedupReport, dedup, kfold_splits, split_dataset

__all__ = [
    "DataSplit",
    "DataWarning",
    "DedupReport",
    "analyze_dataset",
    "dedup",
    "demo_data_path",
    "kfold_splits",
    "load_dataset",
    "read_table",
    "split_dataset",
]
