"""What machine produced a number: CPU, cores, RAM, GPU, OS, library versions, thread settings."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def collect_environment() -> dict:
    """A JSON-ready description of this machine and software stack."""
    env: dict = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "versions": {
            p: _version(p)
            for p in (
                "llm-router",
                "torch",
                "transformers",
                "onnxruntime",
                "onnx",
                "sentence-transformers",
                "setfit",
                "model2vec",
                "fastapi",
                "uvicorn",
                "scikit-learn",
            )
        },
        "threads_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
    }
    try:
        import psutil

        env["ram_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:  # pragma: no cover
        env["ram_gb"] = None
    env["gpu"] = None
    try:
        import torch

        env["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover
        pass
    try:
        import onnxruntime as ort

        env["onnxruntime_providers"] = ort.get_available_providers()
    except ImportError:  # pragma: no cover
        pass
    return env


def describe_machine(env: dict | None = None) -> str:
    """One line for beside a number: 'Intel Xeon ... , 2 cores, 23.4 GiB RAM, no GPU'."""
    env = env or collect_environment()
    gpu = env.get("gpu") or "no GPU"
    return f"{env['cpu']}, {env['cores']} cores, {env.get('ram_gb')} GiB RAM, {gpu}"
