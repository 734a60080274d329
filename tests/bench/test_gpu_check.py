"""benchmarks/gpu_check.sh in --dry-run mode: tiny models on the CPU, so the GPU check's code paths (model
building, timing, JSON summary, the standard-library HTTP server and its open-loop client) run here in ~30 s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_dry_run_writes_one_summary(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        [
            "bash",
            str(ROOT / "benchmarks" / "gpu_check.sh"),
            str(tmp_path),
            "--dry-run",
            "--client-threads",
            "4",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    assert summary["dry_run"] is True and summary["environment"]["device"] == "cpu"
    rows = summary["inprocess"]
    assert {(r["model"], r["dtype"], r["batch"]) for r in rows} == {
        (m, d, b) for m in ("teacher", "student") for d in ("fp32", "bf16") for b in (1, 32)
    }
    assert all(r["p99_ms"] >= r["p50_ms"] > 0 and r["texts_per_s"] > 0 for r in rows)
    http = summary["http"]
    assert "error" not in http, http
    assert http["ok"] == http["requests"] > 0 and http["errors"] == {}
    assert http["p99_ms"] >= http["p50_ms"] > 0
    assert (tmp_path / "gpu_check.log").exists() and "wrote" in done.stdout
