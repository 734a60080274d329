"""`LinearPredictor`: a TF-IDF vectoriser plus a linear head (``kind: linear``), written by `router train --baselines`.

Folder contract: ``tfidf.json`` (sklearn ``TfidfVectorizer`` parameters and its ``vocabulary``), ``idf.npy``
(``[n_features]``), ``head.npz`` (``coef`` ``[n_labels, n_features]``, ``intercept`` ``[n_labels]``; logits =
``x @ coef.T + intercept``), ``router.json`` (``kind: linear``). The vectoriser is rebuilt from the stored
vocabulary and idf, so no pickle is ever loaded. CPU only; a route costs a sparse product (well under a ms).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from llm_router.errors import RouterError
from llm_router.persistence import RouterInfo
from llm_router.runtime.predictor import Predictor


class LinearPredictor(Predictor):
    kind = "linear"

    def __init__(
        self, path: str | Path, info: RouterInfo, *, device: str = "cpu", threads: int | None = None
    ):
        super().__init__(path, info, device=device, threads=threads)
        if self.device != "cpu":
            raise RouterError("linear (TF-IDF) models run on CPU only")
        for name in ("tfidf.json", "idf.npy", "head.npz"):
            if not (self.path / name).exists():
                raise RouterError(f"{self.path}: no {name} in this linear (TF-IDF) model folder")
        from sklearn.feature_extraction.text import TfidfVectorizer

        try:
            params = json.loads((self.path / "tfidf.json").read_text(encoding="utf-8"))
            vocabulary = params.pop("vocabulary")
            params["ngram_range"] = tuple(params["ngram_range"])
            self.vectorizer = TfidfVectorizer(vocabulary=vocabulary, dtype=np.float32, **params)
            idf = np.load(self.path / "idf.npy", allow_pickle=False)
            with np.load(self.path / "head.npz", allow_pickle=False) as head:
                self.coef_t = np.ascontiguousarray(head["coef"].T, dtype=np.float32)
                self.intercept = np.asarray(head["intercept"], dtype=np.float32)
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:  # a damaged file
            raise RouterError(
                f"{self.path}: a damaged linear model file ({' '.join(str(exc).split())[:200]})"
            ) from None
        if idf.ndim != 1 or len(idf) != len(vocabulary):
            raise RouterError(f"{self.path}: idf {idf.shape} does not fit {len(vocabulary)} features")
        self.vectorizer.idf_ = idf
        if self.coef_t.shape != (len(vocabulary), len(self.labels)) or len(self.vectorizer.idf_) != len(
            vocabulary
        ):
            raise RouterError(
                f"{self.path}: head {self.coef_t.T.shape} / idf {self.vectorizer.idf_.shape} do not fit "
                f"{len(vocabulary)} features and {len(self.labels)} labels"
            )

    @property
    def name(self) -> str:
        return f"{self.path.name} (tfidf)"

    def _logits(self, texts: Sequence[str]) -> np.ndarray:
        features = self.vectorizer.transform(list(texts))
        return np.asarray(features @ self.coef_t, dtype=np.float32) + self.intercept
