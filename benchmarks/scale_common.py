"""What the scale-out benchmarks share: the model they measure, the request texts, where they ran.

The model: ``--model DIR``, or (default) the INT8 student of a ``router pipeline --fast --until quantize`` run on
the bundled demo set, built once into ``/tmp/llm-router-bench/run`` (a few minutes; its accuracy is irrelevant
here, only its size and cost, which are those of the real ``layers:4`` INT8 student). The texts: RouterBench
queries (``../shared/data/routerbench/routerbench_3class.csv``, column ``query``) when present, else the demo set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("LLM_ROUTER_BENCH_DIR", "/tmp/llm-router-bench"))
ROUTERBENCH = ROOT.parent / "shared" / "data" / "routerbench" / "routerbench_3class.csv"


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    return env


def resolve_model(model: str | None) -> str:
    """``model``, or the fast pipeline's INT8 student, built on first use."""
    if model:
        return model
    run = WORK / "run"
    student = run / "student-int8"
    if not (student / "router.json").exists():
        print(f"building the benchmark model into {run} (router pipeline --fast, once) ...", file=sys.stderr)
        cmd = [sys.executable, "-m", "llm_router.cli", "pipeline", "--fast", "--until", "quantize", "--no-static",
               "--out", str(run)]  # fmt: skip
        subprocess.run(cmd, env=child_env(), check=True)
    return str(student)


def request_texts() -> tuple[str | None, str]:
    """``(data, text_col)`` for the load generator: RouterBench when present, else the demo set."""
    if ROUTERBENCH.exists():
        return str(ROUTERBENCH), "query"
    return None, "text"


def where() -> dict:
    """Load average, cores and time: printed beside every number (they are provisional on a shared box)."""
    import datetime

    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {
        "utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "loadavg": [round(x, 2) for x in load if x is not None],
        "cpus": os.cpu_count(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def add_common_args(parser, configs: dict) -> None:
    """``--model``, ``--configs`` and ``--json``, the options every scale-out benchmark takes."""
    from pathlib import Path as _Path

    parser.add_argument("--model", help="model folder (default: build the fast pipeline's INT8 student)")
    parser.add_argument(
        "--configs", default=",".join(configs), help=f"comma-separated, from {', '.join(configs)}"
    )
    parser.add_argument("--json", type=_Path, default=None, help="write the results here")


def pick_configs(text: str, configs: dict) -> list[str]:
    """The ``--configs`` names, in order; an unknown one exits 2 with one line."""
    names = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in names if c not in configs]
    if unknown or not names:
        print(f"error: unknown config(s) {', '.join(unknown) or '(none)'} (known: {', '.join(configs)})",
              file=sys.stderr)  # fmt: skip
        raise SystemExit(2)
    return names


def finish(console, table, path, data: dict) -> int:
    """Print the table (if any), write ``data`` as JSON to ``path`` (when given)."""
    if table is not None:
        console.print(table)
    if path:
        sys.path.insert(0, str(ROOT / "src"))
        from llm_router.utils import atomic_write_json

        atomic_write_json(path, data)
        console.print(f"wrote {path}")
    return 0


def run(main) -> None:
    """``sys.exit(main())``, with a ``RouterError`` as one line on stderr and its exit code (2), no traceback."""
    sys.path.insert(0, str(ROOT / "src"))
    from llm_router.errors import RouterError

    try:
        sys.exit(main())
    except RouterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
