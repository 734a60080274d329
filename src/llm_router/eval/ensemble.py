"""Two views of the text, blended: a weighted mean of two models' route probabilities, weight chosen on validation.

A fine-tuned encoder and a TF-IDF model see different things (meaning vs surface n-grams), so where their errors
differ a blend can beat both. :func:`blend_eval` scores two model folders trained on the same split (any kind the
:class:`~llm_router.runtime.Predictor` loads), picks the weight ``w`` of ``w * p_a + (1 - w) * p_b`` with the best
validation macro F1 (ties: the weight nearest the better member alone - a blend has to earn its place on
validation), and reports every member and the blend on the test split with bootstrap
intervals. An evaluation, not a served artefact (see docs/ABLATION.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from llm_router.errors import RouterError
from llm_router.persistence import load_folder_data
from llm_router.persistence.split import read_split

DEFAULT_WEIGHTS = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 11))


def _route_probs(
    folder: Path, parts: list[list[str]], routes: list[str], threads: int | None
) -> list[np.ndarray]:
    """``[n, len(routes)]`` route probabilities of ``folder`` on each list of texts in ``parts`` (one model load,
    one prediction per part), columns in the order ``routes``."""
    from llm_router.runtime import Predictor

    predictor = Predictor.load(folder, threads=threads)
    order = [predictor.routes.index(r) for r in routes]
    return [predictor.predict(texts).route_probs[:, order] for texts in parts]


def choose_weight(
    p_a: np.ndarray, p_b: np.ndarray, y: list[str], routes: list[str], weights
) -> tuple[float, list]:
    """The weight of ``a`` with the best macro F1 on ``y`` (ties: nearest the better member alone, ``a`` when the
    members tie), and every weight's score."""
    from sklearn.metrics import f1_score

    def blend_f1(w: float) -> float:
        pred = [routes[i] for i in (w * p_a + (1 - w) * p_b).argmax(1)]
        return float(f1_score(y, pred, labels=routes, average="macro", zero_division=0))

    scores = [(float(w), blend_f1(w)) for w in weights]
    by_weight = dict(scores)
    alone_a, alone_b = (by_weight[w] if w in by_weight else blend_f1(w) for w in (1.0, 0.0))
    anchor = 1.0 if alone_a >= alone_b else 0.0
    best = max(s for _, s in scores)
    chosen = min((w for w, s in scores if s >= best - 1e-12), key=lambda w: abs(w - anchor))
    return chosen, scores


def blend_eval(a: str | Path, b: str | Path, weights=DEFAULT_WEIGHTS, threads: int | None = None) -> dict:
    """Members ``a`` and ``b`` and their validation-weighted blend on the test split of ``a`` (which ``b`` must
    share)."""
    from llm_router.eval.metrics import classification_report

    a, b = Path(a), Path(b)
    if read_split(a) != read_split(b):
        raise RouterError(f"{a} and {b} were not trained on the same split; a blend needs one split")
    data = load_folder_data(a)
    if len(data.val) == 0 or len(data.test) == 0:
        raise RouterError(f"{a}: a blend needs validation and test rows")
    routes = list(data.routes)
    parts = [list(data.val["text"]), list(data.test["text"])]
    (val_a, p_a), (val_b, p_b) = (_route_probs(m, parts, routes, threads) for m in (a, b))
    w, val_scores = choose_weight(val_a, val_b, list(data.val["route"]), routes, weights)
    y_test, texts = list(data.test["route"]), list(data.test["text"])

    def report(p: np.ndarray) -> dict:
        full = classification_report(y_test, [routes[i] for i in p.argmax(1)], routes, probs=p, texts=texts)
        return {k: full[k] for k in ("n", "accuracy", "macro_f1", "macro_f1_ci95")}

    return {
        "a": str(a),
        "b": str(b),
        "weight_a": w,
        "val_macro_f1_by_weight": val_scores,
        "test": {"a": report(p_a), "b": report(p_b), "blend": report(w * p_a + (1 - w) * p_b)},
        "n_val": len(data.val),
    }
