"""`StaticPredictor`: a model2vec ``StaticModel`` folder plus a linear head (``head.npz``).

Folder contract (written by the static-student stage): ``StaticModel.save_pretrained`` output, ``head.npz`` with
``coef`` ``[n_labels, dim]`` and ``intercept`` ``[n_labels]`` (logits = ``emb @ coef.T + intercept``, softmax over
them), ``router.json`` (``kind: static``; ``max_length`` = the token truncation used when the head was trained).
The embedding is ``StaticModel.encode(text_prefix + text, max_length=max_length)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from llm_router.errors import RouterError
from llm_router.persistence import RouterInfo
from llm_router.runtime.predictor import Predictor


class StaticPredictor(Predictor):
    kind = "static"

    def __init__(
        self, path: str | Path, info: RouterInfo, *, device: str = "cpu", threads: int | None = None
    ):
        super().__init__(path, info, device=device, threads=threads)
        if self.device != "cpu":
            raise RouterError("static models run on CPU only (a lookup and a mean: no GPU needed)")
        from model2vec import StaticModel

        head_file = self.path / "head.npz"
        if not head_file.exists():
            raise RouterError(f"{self.path}: no head.npz (coef, intercept) next to the static model")
        try:
            self.model = StaticModel.from_pretrained(str(self.path))
        except Exception as exc:
            raise RouterError(
                f"{self.path}: cannot load the static model ({' '.join(str(exc).split())[:300]})"
            ) from None
        # A tokenizer saved with padding on would put pad tokens into the mean (and make a text's embedding
        # depend on its batch); model2vec's own distilled tokenizers have it off.
        self.model.tokenizer.no_padding()
        try:
            with np.load(head_file, allow_pickle=False) as head:
                self.coef_t = np.ascontiguousarray(head["coef"].T, dtype=np.float32)
                self.intercept = np.asarray(head["intercept"], dtype=np.float32)
        except (ValueError, KeyError, OSError) as exc:  # a damaged file
            raise RouterError(f"{head_file}: not a head file ({' '.join(str(exc).split())[:200]})") from None
        if self.coef_t.shape != (self.model.dim, len(self.labels)) or self.intercept.shape != (
            len(self.labels),
        ):
            raise RouterError(
                f"{head_file}: coef {self.coef_t.T.shape} / intercept {self.intercept.shape} do not fit "
                f"dim {self.model.dim} and {len(self.labels)} labels"
            )

    @property
    def name(self) -> str:
        return f"{self.path.name} (static)"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        prefix = self.text_prefix
        texts = [prefix + t for t in texts] if prefix else list(texts)
        return self.model.encode(texts, max_length=self.max_length, use_multiprocessing=False)

    def _logits(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts).astype(np.float32, copy=False) @ self.coef_t + self.intercept
