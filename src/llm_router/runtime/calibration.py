"""Temperature scaling stored in a model folder: ``calibration.json``, named by ``router.json:calibration``.

``calibration.json`` = :class:`Calibration` as a dict. The Predictor divides the model's logits by
``temperature`` before the softmax; a folder without the file (or with ``router.json:calibration`` unset)
behaves exactly as before (temperature 1). Fitting lives in :mod:`llm_router.eval.calibration`; this module only
reads, writes and applies, so serving needs no scipy.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from llm_router.errors import RouterError

CALIBRATION_FILE = "calibration.json"


@dataclass
class Calibration:
    """Temperature scaling of one artefact: route probabilities are ``softmax(logits / temperature + bias) @ M``
    (``bias`` 0 unless ``method`` is ``temperature+bias``).

    ``fitted_on`` says which rows chose the temperature (e.g. ``"val split of data.csv (77 rows)"``); ``before``
    and ``after`` hold the ECE / Brier / NLL measured on those rows with temperature 1 and with the fitted one."""

    temperature: float = 1.0
    method: str = "temperature"  # or "temperature+bias": softmax(logits / temperature + bias)
    bias: list[float] | None = None  # per label (router.json labels order), only for temperature+bias
    fitted_on: str = ""
    n: int = 0
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    created_by: str = "router calibrate"

    def __post_init__(self) -> None:
        if self.method not in ("temperature", "temperature+bias"):
            raise RouterError(
                f"unknown calibration method {self.method!r} (known: temperature, temperature+bias)"
            )
        if self.bias is not None:
            self.bias = [float(b) for b in self.bias]
            if not all(math.isfinite(b) for b in self.bias):
                raise RouterError("calibration bias must hold finite numbers")
        t = float(self.temperature)
        if not math.isfinite(t) or t <= 0:
            raise RouterError(f"calibration temperature must be a positive number (got {self.temperature!r})")
        self.temperature = t

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def read_calibration(folder: str | Path, raw: dict[str, Any] | None = None) -> Calibration | None:
    """The folder's calibration, or ``None`` when ``router.json`` names none (``raw``: router.json's content)."""
    from llm_router.persistence.router_json import read_sidecar

    data = read_sidecar(folder, raw, "calibration", "calibration")
    if data is None:
        return None
    try:
        return Calibration.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise RouterError(f"{folder}: calibration file is not valid ({exc})") from None


def write_calibration(folder: str | Path, calibration: Calibration | None) -> Path:
    """Write ``calibration.json`` and point ``router.json`` at it (both atomically); ``None`` removes it."""
    from llm_router.persistence.router_json import write_sidecar

    return write_sidecar(
        folder, "calibration", CALIBRATION_FILE, calibration.to_dict() if calibration else None
    )
