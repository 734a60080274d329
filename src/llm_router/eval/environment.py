"""What machine produced a number: CPU (with the instruction set its kernels run on), cores, RAM, GPU, OS,
library versions, thread settings."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata


def _cpuinfo(field: str) -> str | None:
    """The first CPU's ``field`` line of /proc/cpuinfo (its value), None where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what ``platform`` knows."""
    return _cpuinfo("model name") or platform.processor() or platform.machine()


# What ONNX Runtime's kernels (MLAS) dispatch on for INT8 and float matrix products, widest first. Two CPUs of one
# model name can differ here ("AMD EPYC" is AVX2-only on one VM and AVX-512 VNNI on another): INT8 timings and
# even INT8 routes differ between them, so a number names the level it ran on.
ISA_LEVELS = (
    ("amx_int8", "AMX"),
    ("avx512_vnni", "AVX-512 VNNI"),
    ("avx_vnni", "AVX-VNNI"),
    ("avx512f", "AVX-512"),
    ("avx2", "AVX2"),
)


def cpu_flags() -> set[str]:
    """The first CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    return set((_cpuinfo("flags") or "").split())


def cpu_isa(flags: set[str] | None = None) -> str | None:
    """The widest of :data:`ISA_LEVELS` in ``flags`` (default: this CPU's): ``"AVX-512 VNNI"``, ``"AVX2"``, ...;
    ``"below AVX2"`` when it has none of them, None when the flags are unknown (no /proc/cpuinfo)."""
    flags = cpu_flags() if flags is None else flags
    if not flags:
        return None
    return next((label for flag, label in ISA_LEVELS if flag in flags), "below AVX2")


def _with_isa(model: str, isa: str | None) -> str:
    return f"{model} ({isa})" if isa else model


def cpu_name() -> str:
    """This CPU's model name with its instruction-set level: ``"AMD EPYC (AVX-512 VNNI)"`` (the name alone when
    the level is unknown)."""
    return _with_isa(cpu_model(), cpu_isa())


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def collect_environment() -> dict:
    """A JSON-ready description of this machine and software stack."""
    env: dict = {
        "cpu": cpu_model(),
        "cpu_isa": cpu_isa(),
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
    """One line for beside a number: 'AMD EPYC (AVX-512 VNNI), 2 cores, 23.5 GiB RAM, no GPU'."""
    env = env or collect_environment()
    gpu = env.get("gpu") or "no GPU"
    cpu = _with_isa(env["cpu"], env.get("cpu_isa"))
    return f"{cpu}, {env['cores']} cores, {env.get('ram_gb')} GiB RAM, {gpu}"
