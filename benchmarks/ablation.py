"""Ablation: which technique bought what, in k-fold cross-validated macro F1 on the seed data.

Reproduces the table of ``docs/ABLATION.md``::

    HF_HUB_OFFLINE=1 python benchmarks/ablation.py                       # every row (about an hour on 2 cores)
    HF_HUB_OFFLINE=1 python benchmarks/ablation.py --rows tfidf,course   # some rows
    HF_HUB_OFFLINE=1 python benchmarks/ablation.py --list                # what the rows are

Each finished row is stored in ``--results`` (JSON) right away and skipped on the next run (``--force`` reruns
it), so the ablation can be run in pieces; the markdown table is rebuilt from that file every time
(``--table``). Rows:

- baselines: majority class; TF-IDF character n-grams + logistic regression; frozen multilingual-e5-small
  embeddings (mean pooled, ``query: `` prefix) + logistic regression;
- the course recipe as-is (3 epochs, no class weights, every parameter trained, folds cut from the raw file so the
  112 duplicate rows leak between train and test), then the same on deduplicated folds, then one change at a time
  up to the best configuration;
- SetFit, intent-level training, the tuned best (the ``TrainConfig`` defaults);
- the best recipe on RouterBench (English, 7.5x imbalance) with multilingual-e5-small vs all-MiniLM-L6-v2.

Every fine-tuning row is :func:`llm_router.train.cv.cross_validate` with a :class:`TrainConfig`: the same
code path as ``router cv``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SEED_DATA = SHARED / "seed" / "labeled_data.csv"
ROUTERBENCH = SHARED / "routerbench" / "routerbench_3class.csv"
# RouterBench's routes, cheapest first: its label is the cheapest route whose answer was right (score_<route> 1)
RB_ROUTES = ("gemini-mini", "Claude", "gpt-o1")

# The course recipe, as far as it translates: 3 epochs, HF Trainer-like defaults (lr 5e-5, no warm-up, no weight
# decay, no class weights), every parameter trained. Its model (ModernBERT-korean-large) is not available offline;
# multilingual-e5-small stands in for it, so only the recipe is compared, not the model.
COURSE = {
    "epochs": 3,
    "learning_rate": 5e-5,
    "warmup_ratio": 0.0,
    "weight_decay": 0.0,
    "class_weights": "none",
    "freeze_embeddings": False,
    "trainable_layers": None,
    "oversample": 0.0,
    "augment": "",
    "head_warmup_epochs": 0,
}
# Every row is TrainConfig's defaults overridden by its own dict, so an option a row depends on is pinned here
# when its default changes (head_warmup_epochs became 5 after the lpft row won; the rows above it ran with 0).
# The exact config of each row is stored with its results.
# The reference fine-tune: 8 epochs, lr 5e-5, class-weighted loss.
PLAIN = {**COURSE, "epochs": 8, "warmup_ratio": 0.1, "weight_decay": 0.01, "class_weights": "balanced"}


@dataclass
class Row:
    key: str
    name: str
    kind: str  # majority | tfidf | frozen | tfidf_frozen | outcomes | cv
    data: str = "seed"  # seed | routerbench | demo
    config: dict[str, Any] = field(default_factory=dict)  # TrainConfig overrides (kind cv)
    dedup: bool = True
    note: str = ""


def rows() -> list[Row]:
    from llm_router.train.config import TrainConfig

    frozen_emb = {**PLAIN, "freeze_embeddings": True}
    top6 = {**frozen_emb, "trainable_layers": 6, "learning_rate": 1e-4}
    defaults = {k: v for k, v in TrainConfig().to_dict().items() if k not in ("extra", "threads")}
    # RouterBench is 8x bigger with longer texts: the same recipe, cut to 3 epochs and the top 4 layers to fit the
    # time budget on 2 cores (see ABLATION.md); run before LP-FT became the default, so without it
    routerbench = {**defaults, "epochs": 3, "trainable_layers": 4, "max_length": 64, "head_warmup_epochs": 0}
    return [
        Row("majority", "majority class", "majority"),
        Row("tfidf", "TF-IDF char 1-4-grams + logistic regression", "tfidf"),
        Row("frozen", "frozen e5-small embeddings (mean pooled) + logistic regression", "frozen"),
        Row(
            "course",
            "course recipe as-is (3 epochs, duplicates leak across folds)",
            "cv",
            config=COURSE,
            dedup=False,
        ),
        Row("course_dedup", "+ dedup (leak-free folds)", "cv", config=COURSE),
        Row("plain", "+ 8 epochs, warm-up, weight decay", "cv", config={**PLAIN, "class_weights": "none"}),
        Row("weights", "+ class weights (balanced)", "cv", config=PLAIN),
        Row("frozen_emb", "+ frozen word embeddings", "cv", config=frozen_emb),
        Row("top6", "+ train only the top 6 of 12 layers (bottom cached), lr 1e-4", "cv", config=top6),
        Row(
            "oversample",
            "top6 + over-sampling (minorities to 100%)",
            "cv",
            config={**top6, "oversample": 1.0},
        ),
        Row(
            "augment",
            "top6 + over-sampling + augmentation (typo + spacing, 1 copy each per minority example)",
            "cv",
            config={**top6, "oversample": 1.0, "augment": "typo:1,spacing:1"},
        ),
        Row(
            "setfit",
            "SetFit (contrastive body, then the head; top 6 layers)",
            "cv",
            config={**top6, "method": "setfit"},
        ),
        Row(
            "intent",
            "intent-level training (27 intents -> 3 routes, auto map)",
            "cv",
            config={**top6, "train_label_col": "intent", "route_map": "auto"},
        ),
        Row(
            "category",
            "category-level training (5 categories -> 3 routes, auto map)",
            "cv",
            config={**top6, "train_label_col": "category", "route_map": "auto"},
        ),
        Row(
            "top4",
            "top6 with only the top 4 layers trained",
            "cv",
            config={**top6, "trainable_layers": 4},
        ),
        Row("head_lr", "top6 + head learning rate 1e-3", "cv", config={**top6, "head_learning_rate": 1e-3}),
        Row(
            "lpft", "top6 + 5 head-only epochs first (LP-FT)", "cv", config={**top6, "head_warmup_epochs": 5}
        ),
        Row(
            "smooth",
            "top6 + 12 epochs + label smoothing 0.1",
            "cv",
            config={**top6, "epochs": 12, "label_smoothing": 0.1},
        ),
        Row("soup", "top6 + soup of 3 (weights of 3 runs averaged)", "cv", config={**top6, "soup": 3}),
        Row(
            "best",
            "tuned best (the `router train` / `router cv` defaults)",
            "cv",
            config=defaults,
            note=json.dumps(defaults),
        ),
        Row(
            "rb_e5",
            "RouterBench: best recipe (3 epochs, top 4 layers, 64 tokens), multilingual-e5-small",
            "cv",
            data="routerbench",
            config=routerbench,
        ),
        Row(
            "rb_minilm",
            "RouterBench: best recipe (3 epochs, top 4 layers, 64 tokens), all-MiniLM-L6-v2",
            "cv",
            data="routerbench",
            config={**routerbench, "model": "sentence-transformers/all-MiniLM-L6-v2"},
        ),
        Row(
            "rb_tfidf",
            "RouterBench: TF-IDF char 1-4-grams + logistic regression",
            "tfidf",
            data="routerbench",
        ),
        Row(
            "rb_frozen_e5",
            "RouterBench: frozen multilingual-e5-small embeddings + logistic regression",
            "frozen",
            data="routerbench",
        ),
        Row(
            "rb_frozen_minilm",
            "RouterBench: frozen all-MiniLM-L6-v2 embeddings + logistic regression",
            "frozen",
            data="routerbench",
            config={"model": "sentence-transformers/all-MiniLM-L6-v2"},
        ),
        Row(
            "rb_frozen_mpnet",
            "RouterBench: frozen all-mpnet-base-v2 embeddings + logistic regression",
            "frozen",
            data="routerbench",
            config={"model": "sentence-transformers/all-mpnet-base-v2"},
        ),
        # issue 14, item 5: the defaults as `router train` runs them now (encoder, max_length and class weights
        # chosen from the data, LP-FT, epochs within the 900 s time budget), beside the baselines
        Row(
            "rb_defaults",
            "RouterBench: the current defaults (recipe chosen from the data, 900 s budget per fold)",
            "cv",
            data="routerbench",
            config=defaults,
        ),
        Row(
            "seed_defaults",
            "seed file: the current defaults (recipe chosen from the data)",
            "cv",
            config=defaults,
        ),
        Row("demo_defaults", "demo set: the current defaults", "cv", data="demo", config=defaults),
        # #13: a shallower teacher (the encoder's first K of 12 layers) costs proportionally less to serve
        *(
            Row(
                f"{data}_encoder_{k}",
                f"{data} {'set' if data == 'demo' else 'file'}: the current defaults on the encoder's first "
                f"{k} of 12 layers",
                "cv",
                data=data,
                config=defaults | {"encoder_layers": k},
            )
            for data in ("seed", "demo")
            for k in (4, 6, 8)
        ),
        # issue 14, item 4: two views of the text in one linear model (TF-IDF n-grams beside frozen embeddings)
        *(
            Row(
                f"{prefix}_tfidf_frozen_{short.split('-')[0].lower()}",
                f"{title}: TF-IDF char 1-4-grams and frozen {short} embeddings, one logistic regression",
                "tfidf_frozen",
                data=data,
                config={"model": model},
            )
            for data, prefix, title, short, model in (
                ("routerbench", "rb", "RouterBench", "MiniLM", "sentence-transformers/all-MiniLM-L6-v2"),
                ("routerbench", "rb", "RouterBench", "e5-small", "intfloat/multilingual-e5-small"),
                ("seed", "seed", "seed file", "e5-small", "intfloat/multilingual-e5-small"),
                ("demo", "demo", "demo set", "e5-small", "intfloat/multilingual-e5-small"),
            )
        ),
        # issue 14: RouterBench's outcome columns (score_<route>) as three targets instead of the one label
        Row(
            "rb_tfidf_outcomes",
            "RouterBench: TF-IDF char 1-4-grams, one logistic regression per route's outcome (score_<route>)",
            "outcomes",
            data="routerbench",
            config={"features": "tfidf"},
        ),
        Row(
            "rb_frozen_e5_outcomes",
            "RouterBench: frozen e5-small embeddings, one logistic regression per route's outcome",
            "outcomes",
            data="routerbench",
            config={"features": "intfloat/multilingual-e5-small"},
        ),
        Row("demo_tfidf", "demo set: TF-IDF char 1-4-grams + logistic regression", "tfidf", data="demo"),
        Row(
            "demo_frozen", "demo set: frozen e5-small embeddings + logistic regression", "frozen", data="demo"
        ),
    ]


# ------------------------------------------------------------------------------------------------- data
def load(data: str):
    from llm_router.data import load_dataset

    if data == "seed":
        return load_dataset(SEED_DATA, "user_message", "llm", extra_cols=("intent", "category"))
    if data == "demo":
        from llm_router.data.load import demo_data_path

        return load_dataset(demo_data_path(), "text", "label")
    return load_dataset(ROUTERBENCH, "query", "label", extra_cols=tuple(f"score_{r}" for r in RB_ROUTES))


# ---------------------------------------------------------------------------------------------- baselines
def sklearn_cv(df, folds: int, seed: int, make_features, make_model) -> dict:
    from llm_router.data import dedup, kfold_splits
    from llm_router.eval.metrics import classification_report

    df, _ = dedup(df)
    labels = sorted(df["label"].unique())
    features = make_features(df["text"].tolist())
    scores = []
    for tr, te in kfold_splits(df, folds=folds, seed=seed):
        model = make_model()
        model.fit(
            features[tr] if not isinstance(features, list) else [features[i] for i in tr],
            df["label"].to_numpy()[tr],
        )
        x_te = features[te] if not isinstance(features, list) else [features[i] for i in te]
        rep = classification_report(df["label"].to_numpy()[te], model.predict(x_te), labels, n_boot=0)
        scores.append(rep)
    return summarise(scores, len(df))


def summarise(reports: list[dict], n: int) -> dict:
    out = {"n": n, "folds": len(reports)}
    for key in ("macro_f1", "accuracy", "weighted_f1"):
        values = np.array([r[key] for r in reports])
        out[f"{key}_mean"] = float(values.mean())
        out[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return out


def run_majority(df, folds, seed, **_):
    from sklearn.dummy import DummyClassifier

    return sklearn_cv(
        df,
        folds,
        seed,
        lambda texts: np.zeros((len(texts), 1)),
        lambda: DummyClassifier(strategy="most_frequent"),
    )


def tfidf_vectorizer():
    """The baseline rows' TF-IDF: character 1-4-grams within word boundaries, sublinear term frequencies."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, min_df=1)


def row_logistic(max_iter: int):
    """The baseline rows' logistic regression (C 10, balanced class weights)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=10, max_iter=max_iter, class_weight="balanced")


def run_tfidf(df, folds, seed, **_):
    from sklearn.pipeline import make_pipeline

    return sklearn_cv(
        df, folds, seed, lambda texts: texts, lambda: make_pipeline(tfidf_vectorizer(), row_logistic(2000))
    )


def run_frozen(df, folds, seed, model="intfloat/multilingual-e5-small"):
    from llm_router.train.baselines import frozen_embedder

    embed = frozen_embedder(model, batch_size=64)

    return sklearn_cv(df, folds, seed, embed, lambda: row_logistic(3000))


def run_tfidf_frozen(df, folds, seed, model="intfloat/multilingual-e5-small", weight=1.0):
    """TF-IDF (fitted on each training fold) and the frozen encoder's L2-normalised embedding (times ``weight``)
    side by side as the features of one logistic regression: the `tfidf` and `frozen` rows' settings."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.base import BaseEstimator, ClassifierMixin

    from llm_router.train.baselines import frozen_embedder

    views: dict[str, Any] = {}

    def row_numbers(texts: list[str]) -> np.ndarray:
        """The folds index rows; the texts (deduplicated by sklearn_cv) and their embeddings are kept here."""
        views["texts"] = texts
        views["embeddings"] = frozen_embedder(model, batch_size=64)(texts) * weight
        return np.arange(len(texts))

    class TwoViews(BaseEstimator, ClassifierMixin):
        def features(self, rows):
            rows = np.asarray(rows).ravel()
            tfidf = self.vectorizer.transform([views["texts"][i] for i in rows])
            return hstack([tfidf, csr_matrix(views["embeddings"][rows])]).tocsr()

        def fit(self, rows, y):
            self.vectorizer = tfidf_vectorizer().fit([views["texts"][i] for i in np.asarray(rows).ravel()])
            self.classifier = row_logistic(3000).fit(self.features(rows), y)
            return self

        def predict(self, rows):
            return self.classifier.predict(self.features(rows))

    return sklearn_cv(df, folds, seed, row_numbers, TwoViews)


def run_outcomes(df, folds, seed, features="tfidf"):
    """RouterBench's label is the cheapest route that answered right; its rows also say which of the others did
    (``score_<route>``), which the label hides whenever the cheapest was right. One logistic regression per route
    learns P(route right | text) from every training row; the label's probabilities follow from the rule -
    P(cheapest) = p1, P(middle) = (1 - p1) p2, P(dearest) = (1 - p1)(1 - p2) p3, normalised, as if the outcomes were
    independent given the text - and are divided by the training label shares (the balanced rows' weighting)
    before the argmax. ``features``: ``tfidf`` (the `tfidf` row's) or a frozen encoder (the `frozen` rows')."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    from llm_router.data import dedup
    from llm_router.train.baselines import frozen_embedder

    # sklearn_cv deduplicates the same way, so row i of its texts is row i of these outcomes
    outcomes = dedup(df)[0][[f"score_{r}" for r in RB_ROUTES]].astype(float).to_numpy().astype(int)
    views: dict[str, Any] = {}

    def row_numbers(texts: list[str]) -> np.ndarray:
        views["texts"] = texts
        if features != "tfidf":
            views["embeddings"] = frozen_embedder(features, batch_size=64)(texts)
        return np.arange(len(texts))

    class PerRouteOutcomes(BaseEstimator, ClassifierMixin):
        def inputs(self, rows):
            if features == "tfidf":
                return self.vectorizer.transform([views["texts"][i] for i in rows])
            return views["embeddings"][rows]

        def fit(self, rows, y):
            rows = np.asarray(rows).ravel()
            if features == "tfidf":
                self.vectorizer = tfidf_vectorizer().fit([views["texts"][i] for i in rows])
            x = self.inputs(rows)
            self.models = [
                row_logistic(3000).set_params(class_weight=None).fit(x, outcomes[rows, k])
                for k in range(len(RB_ROUTES))
            ]
            self.labels = sorted(set(y))
            self.shares = np.array([np.mean(np.asarray(y) == label) for label in self.labels])
            return self

        def predict(self, rows):
            x = self.inputs(np.asarray(rows).ravel())  # (once: the three models read the same inputs)
            p1, p2, p3 = (m.predict_proba(x)[:, 1] for m in self.models)
            by_route = dict(zip(RB_ROUTES, (p1, (1 - p1) * p2, (1 - p1) * (1 - p2) * p3), strict=True))
            probs = np.stack([by_route[label] for label in self.labels], axis=1)
            probs /= probs.sum(axis=1, keepdims=True)
            return np.asarray(self.labels)[(probs / self.shares).argmax(axis=1)]

    return sklearn_cv(df, folds, seed, row_numbers, PerRouteOutcomes)


def run_cv(df, row: Row, folds: int, seed: int, record: dict, save, threads: int | None = None) -> dict:
    """Fold by fold, each fold stored in ``record["fold_rows"]`` as soon as it is done (so an interrupted row
    resumes where it stopped); returns the aggregate once every fold is there."""
    from llm_router.train.config import TrainConfig
    from llm_router.train.cv import cross_validate

    config = TrainConfig.from_dict(TrainConfig().to_dict() | row.config | {"seed": seed, "threads": threads})
    done = record.setdefault("fold_rows", {})
    for k in range(folds):
        if str(k) in done:
            continue
        result = cross_validate(
            df, config, folds=folds, dedup_first=row.dedup, progress=sys.stderr.isatty(), only_folds=[k]
        )
        done[str(k)] = result["per_fold"][0]
        record.update(
            {"n": result["n"], "train_label_col": result["train_label_col"], "config": result["config"]}
        )
        print(
            f"    fold {k + 1}/{folds}: macro F1 {done[str(k)]['macro_f1']:.3f} "
            f"({done[str(k)]['cpu_seconds']:.0f} CPU-s)",
            flush=True,
        )
        save()
    fold_rows = [done[str(k)] for k in range(folds)]
    return {
        **summarise(fold_rows, record["n"]),
        "per_fold": fold_rows,
        "train_label_col": record.get("train_label_col"),
        "config": record.get("config"),
        "seconds": round(sum(r["seconds"] for r in fold_rows), 1),
        "cpu_seconds": round(sum(r["cpu_seconds"] for r in fold_rows), 1),
    }


# -------------------------------------------------------------------------------------------------- table
def table(results: dict, selected: list[Row]) -> str:
    lines = [
        "| row | data | macro F1 (mean +/- std) | accuracy | folds | CPU min |",
        "|---|---|---|---|---|---|",
    ]
    for row in selected:
        r = results.get(row.key)
        if r is None or r.get("partial"):
            done = len((r or {}).get("fold_rows", {}))
            lines.append(
                f"| {row.name} | {row.data} | (not run{f': {done} folds done' if done else ''}) | | | |"
            )
            continue
        cpu = r.get("cpu_seconds")
        lines.append(
            f"| {row.name} | {row.data} | {r['macro_f1_mean']:.3f} +/- {r['macro_f1_std']:.3f} | "
            f"{r['accuracy_mean']:.3f} | {r['folds']} | {'' if cpu is None else f'{cpu / 60:.1f}'} |"
        )
    return "\n".join(lines) + "\n"


def machine() -> str:
    import torch

    from llm_router.eval.environment import cpu_name

    return f"{os.cpu_count()} CPU cores, {cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads, no GPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="all", help="comma-separated row keys (see --list), or 'all'")
    parser.add_argument("--folds", type=int, default=5, help="folds on the seed data")
    parser.add_argument(
        "--rb-folds", type=int, default=3, help="folds on RouterBench (bigger, longer texts) and the demo set"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default 2; 1 on a busy machine)"
    )
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results" / "ablation.json")
    parser.add_argument("--table", type=Path, default=ROOT / "docs" / "results" / "ablation_table.md")
    parser.add_argument("--force", action="store_true", help="rerun rows that already have results")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    # threads of the baselines' encoders; the fine-tuning rows pass it in their config
    torch.set_num_threads(args.threads or 2)

    all_rows = rows()
    if args.list:
        for row in all_rows:
            print(f"{row.key:14} {row.data:12} {row.name}")
        return 0
    wanted = [r.key for r in all_rows] if args.rows == "all" else [k.strip() for k in args.rows.split(",")]
    unknown = set(wanted) - {r.key for r in all_rows}
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    if not SEED_DATA.exists():
        print(f"skipped: {SEED_DATA} is absent", file=sys.stderr)
        return 0
    results = json.loads(args.results.read_text()) if args.results.exists() else {}

    def shown() -> list[Row]:  # rows with results, and those asked for
        return [r for r in all_rows if r.key in results or r.key in wanted]

    def save() -> None:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        args.table.write_text(table(results, shown()))

    frames: dict[str, Any] = {}
    by_key = {r.key: r for r in all_rows}
    for row in [by_key[k] for k in wanted]:  # in the order asked for
        finished = row.key in results and not results[row.key].get("partial")
        if row.key not in wanted or (finished and not args.force):
            continue
        if row.data == "routerbench" and not ROUTERBENCH.exists():
            print(f"skipped {row.key}: {ROUTERBENCH} is absent", file=sys.stderr)
            continue
        df = frames.setdefault(row.data, load(row.data))
        folds = args.folds if row.data == "seed" else args.rb_folds
        print(f"[{time.strftime('%H:%M:%S')}] {row.key}: {row.name} ({folds} folds)", flush=True)
        start, cpu_start = time.perf_counter(), time.process_time()
        if row.kind == "cv":
            if finished or results.get(row.key, {}).get("folds", folds) != folds:
                results.pop(row.key, None)  # --force, or a different fold count: start over
            record = results.setdefault(row.key, {"partial": True})
            result = run_cv(df, row, folds, args.seed, record, save, threads=args.threads)
        else:
            runner = {
                "majority": run_majority,
                "tfidf": run_tfidf,
                "frozen": run_frozen,
                "tfidf_frozen": run_tfidf_frozen,
                "outcomes": run_outcomes,
            }[row.kind]
            result = runner(df, folds, args.seed, **row.config)
            result["seconds"] = round(time.perf_counter() - start, 1)
            result["cpu_seconds"] = round(time.process_time() - cpu_start, 1)
        result.update(
            {
                "name": row.name,
                "data": row.data,
                "dedup": row.dedup,
                "date": str(date.today()),
                "machine": machine(),
            }
        )
        results[row.key] = result
        print(
            f"    macro F1 {result['macro_f1_mean']:.3f} +/- {result['macro_f1_std']:.3f}, accuracy "
            f"{result['accuracy_mean']:.3f} ({result['cpu_seconds'] / 60:.1f} CPU-min)",
            flush=True,
        )
        save()
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text(table(results, shown()))
    print(table(results, shown()))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    raise SystemExit(main())
