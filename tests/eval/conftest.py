"""Re-use the tiny random models of tests/train (built in code, no download)."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_train_fixtures", Path(__file__).resolve().parents[1] / "train" / "conftest.py"
)
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

tiny_tokenizer = _fixtures.tiny_tokenizer
tiny_bert_dir = _fixtures.tiny_bert_dir
toy_df = _fixtures.toy_df
toy_frame = _fixtures.toy_frame
