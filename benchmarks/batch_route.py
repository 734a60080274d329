"""Batch routing throughput (`router route`): texts/s on a 100k-row file, one process against Ray Data with 1 and
2 workers, in one run.

    python benchmarks/batch_route.py --json docs/results/batch_route.json
    python benchmarks/batch_route.py --rows 20000 --configs local,ray-2     # quicker

The input is generated into ``/tmp/llm-router-bench/`` (never the repository): RouterBench queries
(``../shared/data``, else the demo set) repeated to ``--rows`` rows, as Parquet. Each configuration routes it into
a Parquet file with the same model (``--model``, default: the fast pipeline's INT8 student) and reports texts/s
over the whole command (start-up and model loading included) and after the first chunk (steady state).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale_common as common  # noqa: E402

sys.path.insert(0, str(common.ROOT / "src"))

CONFIGS = {
    "local": {"engine": "local", "workers": 1, "threads": None},  # one process, all cores
    "ray-1": {"engine": "ray", "workers": 1, "threads": 1},
    "ray-1-t2": {"engine": "ray", "workers": 1, "threads": 2},  # one worker with both cores, as ``local`` has
    "ray-2": {"engine": "ray", "workers": 2, "threads": 1},
}


def make_input(rows: int) -> Path:
    """RouterBench (or demo) queries repeated to ``rows`` rows, in ``WORK`` (reused when already there)."""
    import pandas as pd

    from llm_router.data.load import demo_data_path, read_table

    data, text_col = common.request_texts()
    path = common.WORK / f"route_input_{rows}.parquet"
    if path.exists():
        return path
    texts = read_table(data or demo_data_path())[text_col].dropna().astype(str).tolist()
    repeated = (texts * (rows // len(texts) + 1))[:rows]
    common.WORK.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": range(rows), "text": repeated}).to_parquet(path, index=False)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_args(parser, CONFIGS)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    console = Console(width=160)
    configs = common.pick_configs(args.configs, CONFIGS)
    from llm_router.batch import BatchRouteConfig, route_file

    model = common.resolve_model(args.model)
    data = make_input(args.rows)
    meta = {"model": model, "rows": args.rows, "input": str(data), "where": common.where()}
    results = []
    for name in configs:
        spec = CONFIGS[name]
        out = common.WORK / f"route_output_{name}.parquet"
        console.print(f"[dim][{name}] routing {args.rows} rows ...[/]", highlight=False)
        start = common.where()
        summary = route_file(
            BatchRouteConfig(
                model=model,
                data=str(data),
                out=str(out),
                chunk_size=args.chunk_size,
                batch_size=args.batch_size,
                **spec,
            )  # fmt: skip
        )
        summary.pop("config")
        results.append({"config": name, **spec, **summary, "where_start": start, "where_end": common.where()})
        out.unlink(missing_ok=True)
    table = Table(
        title=f"router route: {args.rows} rows, {model}",
        caption=f"load average at start {meta['where']['loadavg']} on {meta['where']['cpus']} cores, "
        f"{meta['where']['utc']}",
    )
    for col in (
        "config",
        "workers x threads",
        "seconds",
        "texts/s",
        "first chunk s",
        "steady texts/s",
        "loadavg",
    ):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(r["config"], f"{r['workers']} x {r['threads'] or 'all'}", f"{r['seconds']:.1f}",
                      f"{r['texts_per_s']:,.0f}", f"{r['first_chunk_s']:.1f}",
                      f"{r['steady_texts_per_s']:,.0f}" if r["steady_texts_per_s"] else "-",
                      f"{r['where_start']['loadavg'][0]:.2f}")  # fmt: skip
    return common.finish(console, table, args.json, {"meta": meta, "results": results})


if __name__ == "__main__":
    common.run(main)
