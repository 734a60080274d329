"""Peer routers next to ours, on the same split, in the same run: aurelio's semantic-router (PyPI
``semantic-router``, the ``peers`` extra) with the same local multilingual-e5-small encoder as ours.

    # ours = a model folder (any `router train` / pipeline artefact): the peer gets exactly folder.train and both
    # are tested on folder.test, split as the folder was trained (split.json)
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/peers.py --ours runs/seed/teacher --json peers_seed.json
    # no --ours: a cheap one of ours is trained on the spot (TF-IDF char 1-4-grams + logistic regression, the
    # `tfidf` row of benchmarks/ablation.py) on a fresh split of --data (`router train`'s split: dedup, 70/10/20)
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/peers.py --data ../shared/data/seed/labeled_data.csv \\
        --text-col user_message --label-col llm --json peers_seed.json
    # a file with its own train/test column
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/peers.py --data ../shared/data/routerbench/routerbench_3class.csv \\
        --text-col query --label-col label --split-col split --json peers_rb.json

The peer: one ``Route`` per LLM route, holding that route's training texts as utterances, in an ``IndexedRouter``
(semantic-router 1.x: local numpy index, cosine similarity, ``top_k`` nearest utterances, scores aggregated per
route; library defaults top_k=5, aggregation=mean) with no confidence threshold, so every query gets the route with
the highest aggregated score (every query must go to one of the LLMs). When there is a validation part,
``router.fit(val_texts, val_routes)`` calibrates its confidences (Platt); that is monotonic and never changes the
top-1 route, so it does not move F1 and is reported separately. Its encoder is a ``DenseEncoder`` subclass that
runs our resolved local copy of the encoder (no hub, no API key): the model profile's prefix ("query: " for e5),
its max length (64), mean pooling, L2-normalised.

Reported per system: macro F1 on the test split with a bootstrap 95 % interval, accuracy, routing latency p50/p99
(one query at a time, in process, after warm-up, through each system's public call: ``router(text).name`` for the
peer, ``Predictor.predict_one`` for ours; the two systems are timed interleaved, query by query, alternating which
goes first, so load from other jobs hits both alike), CPU ms per query (the process's CPU time per call, all its
threads: on a machine shared with other jobs this moves far less than wall-clock latency) and fit seconds. The same encoder called directly (no router
around it) is timed too, so the router library's own overhead is visible. F1 covers the whole test split: texts
beyond the timed ones are routed in batches through the same decision path (``router.evaluate``'s for the peer,
``Predictor.predict`` for ours), and the JSON records how often batch and single calls agreed where both ran. The JSON records the machine, the thread
settings and the 1-minute load average before and after.

If semantic-router is missing or cannot run offline, the peer row says exactly why and ours is still measured.
Nothing under src/ imports semantic_router: it is an optional benchmark dependency.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ENCODER = "intfloat/multilingual-e5-small"


# --------------------------------------------------------------------------------------------- environment
def load_average() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return None


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


# --------------------------------------------------------------------------------------------- the encoder
class E5Embedder:
    """Our resolved local copy of an encoder, as a plain ``texts -> [n, dim]`` function: the model profile's
    prefix and max length, mean pooling over the attention mask, L2-normalised. Batches are sorted by length."""

    def __init__(self, model: str = ENCODER, batch_size: int = 32):
        import torch
        from transformers import AutoModel

        from llm_router.models import model_profile, resolve
        from llm_router.utils import load_tokenizer

        self.model_name = model
        self.path = resolve(model)
        self.profile = model_profile(model)
        self.tokenizer = load_tokenizer(self.path)
        self.model = AutoModel.from_pretrained(self.path).eval()
        self.batch_size = batch_size
        self._torch = torch

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        texts = [self.profile.text_prefix + str(t) for t in texts]
        out = np.empty((len(texts), self.model.config.hidden_size), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                enc = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.profile.max_length,
                    return_tensors="pt",
                )
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out[idx] = torch.nn.functional.normalize(vec, dim=-1).numpy()
        return out

    def describe(self) -> str:
        p = self.profile
        return f"{self.model_name} (local {self.path}; prefix {p.text_prefix!r}, max_length {p.max_length}, mean pooling)"


def dense_encoder(embed: Callable[[Sequence[str]], np.ndarray], name: str):
    """A semantic-router ``DenseEncoder`` that calls ``embed`` (no hub, no API key). Imports semantic_router."""
    from pydantic import PrivateAttr
    from semantic_router.encoders import DenseEncoder

    class LocalFunctionEncoder(DenseEncoder):
        type: str = "local-function"
        _embed: Callable = PrivateAttr()

        def __init__(self, embed_fn, **data):
            super().__init__(**data)
            self._embed = embed_fn

        def __call__(self, docs: list) -> list[list[float]]:
            return np.asarray(self._embed([str(d) for d in docs]), dtype=np.float32).tolist()

    return LocalFunctionEncoder(embed, name=name)


# --------------------------------------------------------------------------------------------- the systems
@dataclass
class System:
    """One router under test: ``route(text) -> route name`` is the timed per-query call; ``route_many(texts)``,
    when given, routes the rest of the test set in batches (same decisions, less time)."""

    name: str
    route: Callable[[str], str]
    fit_seconds: float | None
    details: dict = field(default_factory=dict)
    route_many: Callable[[list[str]], list[str]] | None = None


class PeerUnavailable(Exception):
    """semantic-router could not be built or run; the message says exactly why."""


def semantic_router_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("semantic-router")
    except metadata.PackageNotFoundError:
        return None


def check_semantic_router() -> None:
    """Raise PeerUnavailable, saying exactly why, when semantic_router cannot be imported or is not 1.x."""
    try:
        import semantic_router  # noqa: F401
    except ImportError as exc:
        if (exc.name or "").split(".")[0] == "semantic_router":
            raise PeerUnavailable(
                f"semantic-router is not installed ({exc}); install the optional extra: pip install -e '.[peers]' "
                "(or requirements/peers.lock.txt)"
            ) from exc
        raise PeerUnavailable(f"semantic-router is installed but importing it failed: {exc}") from exc
    except (
        Exception
    ) as exc:  # an import-time failure of the library itself (e.g. a dependency needing network)
        raise PeerUnavailable(f"importing semantic_router failed: {type(exc).__name__}: {exc}") from exc
    try:
        from semantic_router import IndexedRouter, Route  # noqa: F401
        from semantic_router.encoders import DenseEncoder  # noqa: F401
    except ImportError as exc:
        raise PeerUnavailable(
            f"semantic-router {semantic_router_version()} has no IndexedRouter/Route/DenseEncoder ({exc}): this "
            "script uses the 1.x API (0.x had RouteLayer / SemanticRouter); pip install 'semantic-router>=1.1'"
        ) from exc


def build_peer(
    train_texts: Sequence[str],
    train_routes: Sequence[str],
    embed: Callable[[Sequence[str]], np.ndarray],
    *,
    encoder_name: str,
    val_texts: Sequence[str] = (),
    val_routes: Sequence[str] = (),
    top_k: int = 5,
    aggregation: str = "mean",
) -> System:
    """An ``IndexedRouter`` with one ``Route`` per route holding its training texts. Raises PeerUnavailable."""
    check_semantic_router()
    from semantic_router import IndexedRouter, Route

    by_route: dict[str, list[str]] = {}
    for text, route in zip(train_texts, train_routes, strict=True):
        by_route.setdefault(str(route), []).append(str(text))
    try:
        t0 = time.perf_counter()
        routes = [Route(name=name, utterances=utterances) for name, utterances in sorted(by_route.items())]
        router = IndexedRouter(
            encoder=dense_encoder(embed, encoder_name),
            routes=routes,
            top_k=top_k,
            aggregation=aggregation,
            confidence_threshold=None,
        )
        fit_seconds = time.perf_counter() - t0
    except Exception as exc:
        raise PeerUnavailable(
            f"building semantic-router's IndexedRouter failed: {type(exc).__name__}: {exc}\n"
            + "".join(traceback.format_exception(exc)[-3:])
        ) from exc

    details: dict = {
        "library": "semantic-router",
        "version": semantic_router_version(),
        "router": "IndexedRouter (LocalIndex, cosine)",
        "encoder": encoder_name,
        "top_k": top_k,
        "aggregation": aggregation,
        "confidence_threshold": None,
        "utterances": {name: len(u) for name, u in sorted(by_route.items())},
        "index_seconds": round(fit_seconds, 3),
    }
    if len(val_texts) and len(set(val_routes)) > 1:
        t0 = time.perf_counter()
        try:
            report = router.fit(list(val_texts), list(val_routes))
            details["calibration"] = {
                "on": f"validation part ({len(val_texts)} texts)",
                "method": report.method,
                "top1_accuracy": round(report.accuracy, 4),
                "ece": round(report.ece, 4),
                "seconds": round(time.perf_counter() - t0, 3),
                "note": "Platt calibration is monotonic: it does not change the top-1 route, so not F1",
            }
        except Exception as exc:  # calibration is a side show: say why, keep the router
            details["calibration"] = {"error": f"{type(exc).__name__}: {exc}"}
    else:
        details["calibration"] = None

    def route(text: str) -> str:
        choice = router(text)
        return "" if choice.name is None else str(choice.name)

    route_many = None
    if hasattr(router, "_scores_many") and hasattr(router, "_choose"):
        from semantic_router.routers.base import run

        def route_many(texts: list[str]) -> list[str]:
            # what router.evaluate() does: one batched encoder call, then the same choice as router(text)
            scored = run(router._scores_many(list(texts)))
            return [str(getattr(router._choose(s, 1, None), "name", None) or "") for s in scored]

    name = f"semantic-router {details['version']} (IndexedRouter, e5-small)"
    return System(name, route, fit_seconds, details, route_many)


def build_tfidf(train_texts: Sequence[str], train_routes: Sequence[str]) -> System:
    """Ours, the cheap stand-in: TF-IDF char_wb 1-4-grams + logistic regression (as benchmarks/ablation.py)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    t0 = time.perf_counter()
    model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, min_df=1),
        LogisticRegression(C=10, max_iter=2000, class_weight="balanced"),
    )
    model.fit(list(map(str, train_texts)), list(map(str, train_routes)))
    fit_seconds = time.perf_counter() - t0

    def route(text: str) -> str:
        return str(model.predict([text])[0])

    def route_many(texts: list[str]) -> list[str]:
        return [str(r) for r in model.predict(list(texts))]

    details = {
        "model": "TfidfVectorizer(char_wb, 1-4, sublinear_tf) + LogisticRegression(C=10, balanced)",
        "trained": "on the spot, on the same training part as the peer",
    }
    return System(
        "ours: TF-IDF char 1-4 + LogReg (no --ours folder)", route, fit_seconds, details, route_many
    )


def build_ours_folder(folder: str | Path, threads: int) -> System:
    """Ours from a model folder, loaded with ``Predictor.load(folder, threads=threads)``."""
    from llm_router.runtime import Predictor

    predictor = Predictor.load(folder, threads=threads)
    predictor.warmup()
    metrics_path = Path(folder) / "metrics.json"
    fit_seconds = None
    if metrics_path.exists():
        fit_seconds = json.loads(metrics_path.read_text()).get("train_seconds")

    def route(text: str) -> str:
        return predictor.predict_one(text).routes[0]

    def route_many(texts: list[str]) -> list[str]:
        return list(predictor.predict(list(texts)).routes)

    details = {
        "folder": str(folder),
        "kind": predictor.kind,
        "threads": threads,
        "fit_seconds_from": "metrics.json train_seconds (recorded when it was trained)"
        if fit_seconds
        else None,
    }
    return System(f"ours: {Path(folder).name} ({predictor.kind})", route, fit_seconds, details, route_many)


# --------------------------------------------------------------------------------------------- the run
def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def run_peers(
    train_texts: Sequence[str],
    train_routes: Sequence[str],
    test_texts: Sequence[str],
    test_routes: Sequence[str],
    systems: Sequence[System],
    *,
    timed_extra: dict[str, Callable[[str], object]] | None = None,
    latency_queries: int = 300,
    warmup: int = 20,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """Evaluate and time ``systems`` on the test texts.

    Latency: ``latency_queries`` per-query calls per system, interleaved (each query goes to every system in turn,
    alternating who goes first), cycling through the shuffled test texts. ``timed_extra`` are callables timed the
    same way but not scored (e.g. the bare encoder). F1: every test text routed by every system; a text that was
    not among the timed ones is routed by ``route_many`` (batched) when the system has one, else by ``route``.
    Where both paths routed a text, ``single_vs_batch_agreement`` says how often they agreed (it should be 1)."""
    from llm_router.eval.metrics import classification_report

    timed_extra = dict(timed_extra or {})
    test_texts, test_routes = [str(t) for t in test_texts], [str(r) for r in test_routes]
    labels = sorted(set(map(str, train_routes)) | set(test_routes))
    callables: dict[str, Callable[[str], object]] = {s.name: s.route for s in systems} | timed_extra
    names = list(callables)

    warm_texts = list(map(str, train_texts))[: max(1, warmup)]
    for i in range(warmup):
        for name in names:
            callables[name](warm_texts[i % len(warm_texts)])

    rng = random.Random(seed)
    order = list(range(len(test_texts)))
    rng.shuffle(order)
    n_calls = max(1, latency_queries)
    times: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}  # CPU time of the whole process (all its threads)
    preds: dict[str, list[str | None]] = {s.name: [None] * len(test_texts) for s in systems}
    for k in range(n_calls):
        i = order[k % len(order)]
        text = test_texts[i]
        # alternate who goes first, so caches and load bursts fall on both alike
        turn = names[k % len(names) :] + names[: k % len(names)]
        for name in turn:
            c0, t0 = time.process_time(), time.perf_counter()
            out = callables[name](text)
            times[name].append((time.perf_counter() - t0) * 1000)
            cpu[name].append((time.process_time() - c0) * 1000)
            if name in preds and preds[name][i] is None:
                preds[name][i] = str(out)
    results = []
    for system in systems:
        pred = preds[system.name]
        agreement = None
        if system.route_many is not None:
            batch = system.route_many(test_texts)
            both = [(a, b) for a, b in zip(pred, batch, strict=True) if a is not None]
            agreement = sum(a == b for a, b in both) / len(both) if both else None
            pred = [b if a is None else a for a, b in zip(pred, batch, strict=True)]
        else:
            pred = [system.route(t) if p is None else p for p, t in zip(pred, test_texts, strict=True)]
        unknown = sorted({p for p in pred if p not in labels})
        scored = [p if p in labels else "__none__" for p in pred]
        report = classification_report(
            test_routes, scored, labels + (["__none__"] if unknown else []), n_boot=n_boot, seed=seed
        )
        if unknown:  # a "no route" answer counts as wrong; macro F1 stays over the real routes
            from sklearn.metrics import f1_score

            report["macro_f1"] = float(
                f1_score(test_routes, scored, labels=labels, average="macro", zero_division=0)
            )
            report["unrouted"] = sum(p not in labels for p in pred)
        results.append(
            {
                "system": system.name,
                "macro_f1": report["macro_f1"],
                "macro_f1_ci95": report["macro_f1_ci95"],
                "accuracy": report["accuracy"],
                "per_class_f1": {k: v["f1"] for k, v in report["per_class"].items()},
                "p50_ms": percentile(times[system.name], 50),
                "p99_ms": percentile(times[system.name], 99),
                "mean_ms": float(statistics.fmean(times[system.name])),
                "cpu_p50_ms": percentile(cpu[system.name], 50),
                "cpu_mean_ms": float(statistics.fmean(cpu[system.name])),
                "latency_calls": len(times[system.name]),
                "single_vs_batch_agreement": agreement,
                "fit_seconds": system.fit_seconds,
                "details": system.details,
                # no misroutes: their texts are the data's, and the data never goes into the repo
                "report": {k: v for k, v in report.items() if k != "misroutes"},
            }
        )
    extras = [
        {
            "system": name,
            "p50_ms": percentile(times[name], 50),
            "p99_ms": percentile(times[name], 99),
            "mean_ms": float(statistics.fmean(times[name])),
            "cpu_p50_ms": percentile(cpu[name], 50),
            "cpu_mean_ms": float(statistics.fmean(cpu[name])),
            "latency_calls": len(times[name]),
        }
        for name in timed_extra
    ]
    return {
        "labels": labels,
        "n_train": len(train_texts),
        "n_test": len(test_texts),
        "warmup_calls": warmup,
        "latency_calls": n_calls,
        "results": results,
        "timed_only": extras,
    }


# --------------------------------------------------------------------------------------------- data
@dataclass
class Split:
    train_texts: list[str]
    train_routes: list[str]
    val_texts: list[str]
    val_routes: list[str]
    test_texts: list[str]
    test_routes: list[str]
    how: str


def split_from_folder(folder: str, data: str | None) -> Split:
    from llm_router.persistence import load_folder_data

    f = load_folder_data(folder, data_path=data)
    return Split(
        f.train["text"].tolist(),
        f.train["route"].tolist(),
        f.val["text"].tolist(),
        f.val["route"].tolist(),
        f.test["text"].tolist(),
        f.test["route"].tolist(),
        f"{folder}/split.json (train/val/test as the folder was trained; routes, not intents)",
    )


def split_from_data(
    data: str | None, text_col: str, label_col: str, split_col: str | None, seed: int
) -> Split:
    from llm_router.data import dedup, load_dataset, split_dataset

    if split_col:
        df = load_dataset(data, text_col, label_col, extra_cols=[split_col])
        df, report = dedup(df)  # over the whole file, so no text is on both sides
        parts = {name: df[df[split_col] == name] for name in ("train", "val", "test")}
        if parts["train"].empty or parts["test"].empty:
            raise SystemExit(f"--split-col {split_col}: needs rows marked 'train' and 'test'")
        how = (
            f"the file's own '{split_col}' column (train/test), after dropping {report.dropped_rows} duplicate "
            "texts over the whole file"
        )
        tr, va, te = parts["train"], parts["val"], parts["test"]
    else:
        df = load_dataset(data, text_col, label_col)
        s = split_dataset(df, test_size=0.2, val_size=0.1, seed=seed)
        how = f"router train's split: dedup ({s.dedup_report.dropped_rows} dropped), stratified 70/10/20, seed {seed}"
        tr, va, te = s.train, s.val, s.test
    return Split(
        tr["text"].tolist(),
        tr["label"].tolist(),
        va["text"].tolist(),
        va["label"].tolist(),
        te["text"].tolist(),
        te["label"].tolist(),
        how,
    )


# --------------------------------------------------------------------------------------------- output
def fmt_ci(ci) -> str:
    return "" if not ci or ci[0] is None else f" [{ci[0]:.3f}, {ci[1]:.3f}]"


def print_table(out: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    env = out["environment"]
    table = Table(
        title=f"Peers on {out['data']} (train {out['n_train']}, test {out['n_test']}; {out['split']})",
        caption=(
            f"{env['cpu']}, {env['cores']} cores, {env['threads']} thread(s); load average "
            f"{env['load_before']} -> {env['load_after']}; latency: {out['latency_calls']} calls per system, "
            f"one query at a time, after {out['warmup_calls']} warm-up calls; CPU ms/query: mean CPU time of the "
            "process per call (all threads), less sensitive to other jobs than wall-clock latency"
        ),
    )
    for col in ("system", "macro F1 [95% CI]", "accuracy", "p50 ms", "p99 ms", "CPU ms/query", "fit s"):
        table.add_column(col, justify="left" if col == "system" else "right")
    for r in out["results"]:
        fit = "" if r["fit_seconds"] is None else f"{r['fit_seconds']:.2f}"
        table.add_row(
            r["system"],
            f"{r['macro_f1']:.3f}{fmt_ci(r['macro_f1_ci95'])}",
            f"{r['accuracy']:.3f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['cpu_mean_ms']:.2f}",
            fit,
        )
    for r in out["timed_only"]:
        table.add_row(
            r["system"],
            "(not a router)",
            "",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['cpu_mean_ms']:.2f}",
            "",
        )
    for r in out.get("unavailable", []):
        table.add_row(r["system"], "[red]could not run[/red]", "", "", "", "", "")
    console = Console()
    if not console.is_terminal:  # a log file: no wrapping of long system names
        console = Console(width=160)
    console.print(table)
    for r in out.get("unavailable", []):
        console.print(f"[red]{r['system']} could not run:[/red] {r['reason']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--ours", help="a model folder of ours (router train / pipeline artefact); else TF-IDF + LR"
    )
    ap.add_argument(
        "--data", help="the data file (default: the folder's data with --ours, else the demo set)"
    )
    ap.add_argument("--text-col", default="text")
    ap.add_argument("--label-col", default="label")
    ap.add_argument("--split-col", help="without --ours: use this column's train/test values as the split")
    ap.add_argument("--encoder", default=ENCODER, help="the peer's encoder (resolved locally)")
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--aggregation", default="mean", choices=["mean", "max", "sum"])
    ap.add_argument("--latency-queries", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="torch / ONNX Runtime threads for every system")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", help="write every number here")
    args = ap.parse_args(argv)
    # No hub, ever: every model comes from llm_router.models.resolve (a local folder). Set here, not at import,
    # so that importing this module (the tests do) leaves the environment alone.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    load_before = load_average()
    set_threads(args.threads)
    started = time.time()
    if args.ours:
        split = split_from_folder(args.ours, args.data)
        data_name = args.data or json.loads((Path(args.ours) / "router.json").read_text())["data"]["path"]
    else:
        split = split_from_data(args.data, args.text_col, args.label_col, args.split_col, args.seed)
        data_name = args.data or "demo set (llm_router.data.demo_data_path())"

    systems: list[System] = []
    unavailable: list[dict] = []
    ours = (
        build_ours_folder(args.ours, args.threads)
        if args.ours
        else build_tfidf(split.train_texts, split.train_routes)
    )
    systems.append(ours)
    timed_extra: dict[str, Callable[[str], object]] = {}
    try:
        check_semantic_router()
        try:
            embedder = E5Embedder(args.encoder)
        except Exception as exc:
            raise PeerUnavailable(
                f"the local encoder {args.encoder} could not be loaded offline: {type(exc).__name__}: {exc}"
            ) from exc
        peer = build_peer(
            split.train_texts,
            split.train_routes,
            embedder,
            encoder_name=embedder.describe(),
            val_texts=split.val_texts,
            val_routes=split.val_routes,
            top_k=args.top_k,
            aggregation=args.aggregation,
        )
        systems.append(peer)
        timed_extra[f"{Path(args.encoder).name} encoder alone (no router)"] = lambda t: embedder([t])
    except PeerUnavailable as exc:
        unavailable.append({"system": "semantic-router", "reason": str(exc)})

    out = run_peers(
        split.train_texts,
        split.train_routes,
        split.test_texts,
        split.test_routes,
        systems,
        timed_extra=timed_extra,
        latency_queries=args.latency_queries,
        warmup=args.warmup,
        n_boot=args.n_boot,
        seed=args.seed,
    )
    import torch

    from llm_router.eval.environment import cpu_name

    out = {
        "data": str(data_name),
        "split": split.how,
        **out,
        "unavailable": unavailable,
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "wall_seconds": round(time.time() - started, 1),
        "environment": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "threads": args.threads,
            "torch_threads": torch.get_num_threads(),
            "threads_env": {
                k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ
            },
            "load_before": load_before,
            "load_after": load_average(),
            "python": platform.python_version(),
            "semantic_router": semantic_router_version(),
            "torch": torch.__version__,
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }
    print_table(out)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from scale_common import run  # bad input (a missing data file, a folder that is not a model): one line

    run(main)
