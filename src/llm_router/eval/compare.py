"""`router compare`: every artefact in one table - one run, the same test split, the same thread count.

For each model (an HF, ONNX or static folder, or an ``.onnx`` file inside an ONNX folder), loaded with
:meth:`llm_router.runtime.Predictor.load`:

- ``params``: numel of the weights (safetensors / torch state dict), the summed initializer sizes of the served ONNX
  graph, or the static model's vocabulary x dimension (+ the head);
- ``size_mb``: the files actually served (weights or the served ``.onnx`` + external data, tokenizer files,
  ``config.json``; for a static model its embeddings, tokenizer and ``head.npz``), in MB (10^6 bytes);
- ``p50_ms`` / ``p99_ms``: batch-1 latency of ``predict_one`` over ``n_latency`` test texts after a warm-up;
- ``throughput_b32``: texts/s of ``predict`` over the test texts in batches of 32 (a dynamic INT8 file runs the
  texts of a batch one per call, as served: see :mod:`llm_router.runtime.onnx_backend`);
- ``accuracy`` / ``macro_f1``: routes on the shared test split (``split.json`` ``test``, which must be the same for
  every model), via :func:`llm_router.eval.metrics.classification_report`;
- ``speedup``: the first model's p50 / this model's p50;
- ``agreement``: the share of test texts this model routes as the first model (the baseline, usually the fp32
  teacher) routes them, with its Wilson 95% interval (``agreement_ci95``): what a student or cascade keeps of
  its teacher's decisions, gold labels aside.
"""

from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from llm_router.errors import RouterError
from llm_router.persistence import read_split

#: The keys every row of ``router compare --json`` has (more may follow).
ROW_KEYS = (
    "model",
    "params",
    "size_mb",
    "p50_ms",
    "p99_ms",
    "throughput_b32",
    "accuracy",
    "macro_f1",
    "speedup",
)

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "sentencepiece.bpe.model",
    "spiece.model",
    "merges.txt",
    "vocab.json",
    "added_tokens.json",
)


@dataclass
class CompareConfig:
    """How `router compare` measures. Every field has a working default."""

    threads: int = 2  # the same for every model: torch threads / ONNX Runtime intra-op threads
    n_latency: int = 300  # batch-1 calls timed per model (test texts, cycled)
    warmup: int = 20  # untimed batch-1 calls first
    batch_size: int = 32  # throughput batch
    min_throughput_texts: int = 256  # the test texts are repeated up to this many for the throughput run
    data: str | None = None  # override the data file named in router.json

    def __post_init__(self) -> None:
        if self.threads < 1 or self.n_latency < 1 or self.batch_size < 1 or self.warmup < 0:
            raise RouterError(
                f"threads, latency calls and batch size must be >= 1, warm-up >= 0 (got {self.threads}, "
                f"{self.n_latency}, {self.batch_size}, {self.warmup})"
            )

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------------ static facts
def parse_model_arg(arg: str) -> tuple[str, Path]:
    """``NAME=PATH`` or ``PATH`` (the name is then the path as given)."""
    name, sep, path = arg.partition("=")
    if sep and name and "/" not in name and not Path(arg).exists():
        return name, Path(path)
    return arg, Path(arg)


def served_files(folder: Path, info) -> list[Path]:
    """The files a server loads for this artefact (what its size on disk is)."""
    if info.kind == "cascade":
        return _cascade_levels_call(folder, info, served_files, flatten=True)
    files: list[Path] = []
    if info.kind == "onnx":
        onnx_path = folder / info.onnx_file
        files.append(onnx_path)
        files += [
            p
            for p in folder.iterdir()
            if p.is_file() and p.name.startswith(info.onnx_file) and p != onnx_path
        ]
        files += _external_data_files(onnx_path)
    elif info.kind == "early-exit":  # its segments (the teacher file cut) and the exit heads
        segments = [folder / name for name in info.raw.get("segments") or []]
        files += segments + [folder / str(info.raw.get("heads") or "exit_heads.npz")]
        files += [f for segment in segments if segment.exists() for f in _external_data_files(segment)]
    elif info.kind == "static":
        files += [p for p in folder.glob("*.safetensors")] + [folder / "head.npz"]
    elif info.kind == "linear":
        files += [folder / n for n in ("tfidf.json", "idf.npy", "head.npz")]
    else:
        weights = list(folder.glob("*.safetensors")) or list(folder.glob("pytorch_model*.bin"))
        files += weights
    files += [folder / n for n in (*TOKENIZER_FILES, "config.json") if (folder / n).exists()]
    seen, out = set(), []
    for f in files:
        if f.exists() and f not in seen:
            seen.add(f)
            out.append(f)
    return out


def _external_data_files(onnx_path: Path) -> list[Path]:
    try:
        import onnx
        from onnx.external_data_helper import ExternalDataInfo, uses_external_data
    except ImportError:  # pragma: no cover
        return []
    model = onnx.load(str(onnx_path), load_external_data=False)
    names = {ExternalDataInfo(t).location for t in model.graph.initializer if uses_external_data(t)}
    return [onnx_path.parent / n for n in sorted(names)]


def count_parameters(folder: Path, info) -> int:
    """Weights of the served artefact (see the module docstring; a cascade: the sum over its levels)."""
    if info.kind == "cascade":
        return sum(_cascade_levels_call(folder, info, count_parameters))
    if info.kind == "onnx":
        return _onnx_parameters(folder / info.onnx_file)
    if info.kind == "early-exit":
        total = sum(_onnx_parameters(folder / name) for name in info.raw.get("segments") or [])
        heads = folder / str(info.raw.get("heads") or "exit_heads.npz")
        if heads.exists():
            with np.load(heads) as arrays:
                total += sum(int(arrays[k].size) for k in arrays.files)
        return total
    if info.kind in ("static", "linear"):
        total = 0
        for f in folder.glob("*.safetensors"):
            total += _safetensors_numel(f)
        if (folder / "head.npz").exists():
            with np.load(folder / "head.npz") as head:
                total += sum(int(head[k].size) for k in head.files)
        return total
    files = list(folder.glob("*.safetensors"))
    if files:
        return sum(_safetensors_numel(f) for f in files)
    import torch

    total = 0
    for f in folder.glob("pytorch_model*.bin"):
        state = torch.load(f, map_location="cpu", weights_only=True)
        total += sum(int(v.numel()) for v in state.values())
    return total


def _cascade_levels_call(folder: Path, info, fn, flatten: bool = False) -> list:
    """``fn(level_folder, level_info)`` for every level a cascade serves (skipped levels excluded)."""
    from llm_router.persistence import read_router_info
    from llm_router.runtime.cascade import parse_levels

    levels = parse_levels(info.raw, str(folder / "router.json"))
    results = []
    for i, level in enumerate(levels):
        if level.threshold is None and i < len(levels) - 1:
            continue
        result = fn(*read_router_info(level.resolve(folder)))
        if flatten:
            results.extend(result)
        else:
            results.append(result)
    return results


def _safetensors_numel(path: Path) -> int:
    from safetensors import safe_open

    total = 0
    with safe_open(str(path), framework="np") as fh:
        for key in fh.keys():  # noqa: SIM118 - safe_open is not a dict
            total += int(math.prod(fh.get_slice(key).get_shape()))
    return total


def _onnx_parameters(path: Path) -> int:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    total = sum(int(math.prod(t.dims)) for t in model.graph.initializer)
    for node in model.graph.node:  # constants folded into Constant nodes count too
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    total += int(math.prod(attr.t.dims))
    return total


# ------------------------------------------------------------------------------------------------ measuring
def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def quantile_interval(values: Sequence[float], q: float, level: float = 0.95) -> list[float] | None:
    """Distribution-free interval of the ``q``-th percentile (0-100) of ``values``: order statistics whose ranks
    come from Binomial(n, q/100) (how many of n draws fall below the true percentile). None for < 20 values."""
    from scipy.stats import binom

    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n < 20:
        return None
    alpha = (1 - level) / 2
    lo = int(binom.ppf(alpha, n, q / 100))  # 1-based rank of the lower bound
    hi = int(binom.ppf(1 - alpha, n, q / 100)) + 1
    return [float(x[min(max(lo, 1), n) - 1]), float(x[min(max(hi, 1), n) - 1])]


def measure_latency(predictor, texts: Sequence[str], n: int, warmup: int) -> list[float]:
    """Batch-1 wall times (ms) of ``predict_one`` over ``n`` texts (cycled), after ``warmup`` untimed calls."""
    texts = list(texts)
    for i in range(warmup):
        predictor.predict_one(texts[i % len(texts)])
    times = []
    for i in range(n):
        text = texts[i % len(texts)]
        start = time.perf_counter()
        predictor.predict_one(text)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def measure_throughput(predictor, texts: Sequence[str], batch_size: int, min_texts: int) -> float:
    """Texts per second of ``predict(texts, batch_size)`` (texts repeated up to ``min_texts``)."""
    texts = list(texts)
    reps = max(1, math.ceil(min_texts / max(len(texts), 1)))
    texts = (texts * reps)[: max(min_texts, len(texts))]
    predictor.predict(texts[:batch_size], batch_size=batch_size)  # warm the batch shapes
    start = time.perf_counter()
    predictor.predict(texts, batch_size=batch_size)
    return len(texts) / (time.perf_counter() - start)


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover - not on every platform
        return None


def _split_test(folder: Path) -> list[str]:
    split = read_split(folder)
    if split is None:
        raise RouterError(f"{folder}: no split.json - cannot tell which rows are its held-out test split")
    return sorted(split.get("test") or [])


def _level_shares(predictor, pred) -> dict[str, float] | None:
    levels = getattr(pred, "levels", None)
    if levels is None:
        return None
    from llm_router.runtime.cascade import level_shares_of

    return level_shares_of(levels, predictor.level_names)


def compare_models(
    models: Sequence[str], config: CompareConfig | None = None, progress: bool = True
) -> list[dict]:
    """Measure every model on the same test split with the same threads; returns the rows (``ROW_KEYS`` + extra:
    ``kind``, ``path``, ``p95_ms``, ``mean_ms``, ``level_shares`` (a cascade: share of the test texts each level
    answered; else None), ``weighted_f1``, ``n_test``, ``threads``, ``load_1m`` - the machine's 1-minute
    load average when the model was measured: latency is only comparable between rows measured on a quiet machine)."""
    from llm_router.eval.metrics import classification_report
    from llm_router.persistence import load_folder_data, read_router_info
    from llm_router.runtime.predictor import Predictor

    config = config or CompareConfig()
    if not models:
        raise RouterError("no models to compare (give --models A B ...)")
    if config.threads < 1:
        raise RouterError(f"threads must be >= 1 (got {config.threads})")
    parsed = [parse_model_arg(m) for m in models]
    located = []
    for name, path in parsed:
        folder, info = read_router_info(path)
        located.append((name, path, folder, info))
    tests = {name: _split_test(folder) for name, _p, folder, _i in located}
    first_name = located[0][0]
    for name, test in tests.items():
        if test != tests[first_name]:
            raise RouterError(
                f"{name} was held out on a different test split than {first_name} "
                f"({len(test)} vs {len(tests[first_name])} texts); compare models of the same split.json"
            )
    data = load_folder_data(located[0][2], config.data)
    texts, gold = list(data.test["text"]), list(data.test["route"])
    if not texts:
        raise RouterError(f"{located[0][2]}/split.json: empty test split")
    routes = located[0][3].routes
    for name, _p, _f, info in located:
        if sorted(info.routes) != sorted(routes):
            raise RouterError(f"{name} routes {info.routes} differ from {first_name}'s {routes}")
    latency_texts = sorted(texts, key=len)  # cycled in a fixed order for every model
    rng = np.random.default_rng(0)
    latency_texts = [latency_texts[i] for i in rng.permutation(len(latency_texts))]

    rows = []
    first_routes: list[str] | None = None
    from llm_router.eval.metrics import agreement
    from llm_router.utils.progress import Bar, make_progress

    with make_progress(progress, transient=True) as prog:
        bar = Bar(prog, "comparing", len(located))
        for name, path, folder, info in located:
            bar.update(description=f"measuring {name}")
            predictor = Predictor.load(path, threads=config.threads)
            predictor.warmup()
            pred = predictor.predict(texts, batch_size=config.batch_size)
            shares = _level_shares(predictor, pred)  # a cascade: share of the test texts each level answered
            report = classification_report(gold, pred.routes, routes, n_boot=0)
            first_routes = first_routes or list(pred.routes)
            agrees = agreement(list(pred.routes), first_routes)
            times = measure_latency(predictor, latency_texts, config.n_latency, config.warmup)
            throughput = measure_throughput(predictor, texts, config.batch_size, config.min_throughput_texts)
            files = served_files(folder, info)
            rows.append(
                {
                    "model": name,
                    "params": count_parameters(folder, info),
                    "size_mb": sum(f.stat().st_size for f in files) / 1e6,
                    "p50_ms": _percentile(times, 50),
                    "p99_ms": _percentile(times, 99),
                    "p99_ci95_ms": quantile_interval(times, 99),
                    "throughput_b32": throughput,
                    "accuracy": report["accuracy"],
                    "macro_f1": report["macro_f1"],
                    "speedup": None,
                    "kind": info.kind if info.kind != "onnx" else f"onnx:{info.onnx_file}",
                    "path": str(path),
                    "p95_ms": _percentile(times, 95),
                    "mean_ms": float(np.mean(times)),
                    "level_shares": shares,
                    "weighted_f1": report["weighted_f1"],
                    "agreement": agrees["value"],
                    "agreement_ci95": agrees["ci95"],
                    "n_test": len(texts),
                    "threads": config.threads,
                    "load_1m": _load_average(),  # busy neighbours inflate latency: judge timings by it
                }
            )
            del predictor, pred
            gc.collect()
            bar.advance()
    base = rows[0]["p50_ms"]
    for row in rows:
        row["speedup"] = base / row["p50_ms"] if row["p50_ms"] > 0 else None
    return rows


# ------------------------------------------------------------------------------------------------ output
def comparison_table(rows: Sequence[dict], title: str | None = None):
    """A rich Table of the rows."""
    from rich.table import Table

    table = Table(title=title)
    for col, justify in [
        ("model", "left"),
        ("kind", "left"),
        ("params", "right"),
        ("MB", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("mean ms", "right"),
        ("texts/s @32", "right"),
        ("accuracy", "right"),
        ("macro F1", "right"),
        (f"agrees w/ {rows[0]['model']}" if rows else "agreement", "right"),
        ("speedup", "right"),
    ]:
        table.add_column(col, justify=justify)
    cascades = any(r.get("level_shares") for r in rows)
    if cascades:
        table.add_column("answered by (cascade)", justify="left")
    for r in rows:
        extra = [_shares_text(r.get("level_shares"))] if cascades else []
        table.add_row(
            str(r["model"]),
            str(r.get("kind", "")),
            _human(r["params"]),
            f"{r['size_mb']:.1f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['mean_ms']:.2f}" if r.get("mean_ms") is not None else "-",
            f"{r['throughput_b32']:.0f}",
            f"{r['accuracy']:.3f}",
            f"{r['macro_f1']:.3f}",
            f"{r['agreement']:.3f}" if r.get("agreement") is not None else "-",
            f"{r['speedup']:.1f}x" if r.get("speedup") else "-",
            *extra,
        )
    return table


def _shares_text(shares: dict[str, float] | None) -> str:
    if not shares:
        return "-"
    return ", ".join(f"{name} {100 * share:.0f}%" for name, share in shares.items())


def _human(n: int) -> str:
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def pareto_front(rows: Sequence[dict]) -> list[dict]:
    """Rows no other row beats on both p99 latency (lower) and macro F1 (higher), by latency."""
    front = []
    for r in rows:
        dominated = any(
            o is not r
            and o["p99_ms"] <= r["p99_ms"]
            and o["macro_f1"] >= r["macro_f1"]
            and (o["p99_ms"] < r["p99_ms"] or o["macro_f1"] > r["macro_f1"])
            for o in rows
        )
        if not dominated:
            front.append(r)
    return sorted(front, key=lambda r: r["p99_ms"])


def pareto_png(rows: Sequence[dict], path: str | os.PathLike[str], title: str = "") -> Path:
    """Macro F1 against p99 batch-1 latency (log scale), every model labelled, the Pareto front joined."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        ax.scatter(r["p99_ms"], r["macro_f1"], s=40 + 60 * math.log10(max(r["size_mb"], 1.0)), zorder=3)
        ax.annotate(
            f"{r['model']}\n{r['size_mb']:.0f} MB",
            (r["p99_ms"], r["macro_f1"]),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=8,
        )
    front = pareto_front(rows)
    ax.plot(
        [r["p99_ms"] for r in front],
        [r["macro_f1"] for r in front],
        "--",
        color="grey",
        zorder=2,
        label="Pareto front",
    )
    ax.set_xscale("log")
    ax.set_xlabel(f"p99 latency, batch 1, {rows[0].get('threads', '?')} threads (ms, log scale)")
    ax.set_ylabel("macro F1 (test split)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title or "accuracy vs latency")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
