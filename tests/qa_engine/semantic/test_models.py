"""The semantic model comes from its wheel, verified, with no network; a wrong file is refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from qa_engine.errors import ModelError
from qa_engine.paths import models_manifest
from qa_engine.semantic import models


@pytest.fixture
def fresh_cache(monkeypatch):
    """Each test loads for itself: the process-wide cache starts empty and is put back after."""
    monkeypatch.setattr(models, "_loaded", {})



def _manifest_copy(tmp_path: Path, monkeypatch, edit) -> None:
    data = yaml.safe_load(models_manifest().read_text(encoding="utf-8"))
    edit(data["semantic"])
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("QA_MODELS_MANIFEST", str(path))


def test_default_model_loads_offline_from_its_wheel_and_labels(fresh_cache, no_network, monkeypatch) -> None:
    monkeypatch.delenv("QA_SEMANTIC_MODEL", raising=False)
    model = models.load()
    assert model.name == "use-multilingual-v3"
    brush_off, polite = model.label(["这个跟我们没关系，你找别人去。", "好的，我帮您查询一下订单。"], "agent")
    assert brush_off["dismissive"] > 0.8 > polite["dismissive"]
    assert set(brush_off) == {"dismissive", "rude", "blaming", "empathy", "hedging"}
    assert all(0.0 <= v <= 1.0 for v in brush_off.values())


def test_the_other_measured_encoder_loads_offline_too(fresh_cache, no_network) -> None:
    model = models.load("e5-small-q4")
    assert model.name == "e5-small-q4"
    (scores,) = model.label(["我要投诉你们，太过分了！"], "customer")
    assert max(scores, key=scores.__getitem__) == "angry"


@pytest.mark.parametrize(("name", "weights"), [("e5-small-q4", "e5-small-q4.bin"),
                                               ("use-multilingual-v3", "weights.npz")])
def test_a_changed_weight_file_fails_its_checksum(fresh_cache, tmp_path, monkeypatch, name, weights) -> None:
    def corrupt(table):
        table["models"][name]["sha256"][weights] = "0" * 64

    _manifest_copy(tmp_path, monkeypatch, corrupt)
    with pytest.raises(ModelError, match=rf"{name!r}: {re.escape(weights)} failed its checksum"):
        models.load(name)


def test_changed_heads_fail_their_checksum(fresh_cache, tmp_path, monkeypatch) -> None:
    def corrupt(table):
        table["models"]["e5-small-q4"]["heads"]["sha256"] = "f" * 64

    _manifest_copy(tmp_path, monkeypatch, corrupt)
    with pytest.raises(ModelError, match=r"heads e5-small-q4\.npz failed their checksum"):
        models.load("e5-small-q4")


def test_an_unknown_name_lists_the_known_models(fresh_cache) -> None:
    with pytest.raises(ModelError, match=r"unknown semantic model 'bert-huge'.*e5-small-q4.*use-multilingual-v3"):
        models.load("bert-huge")


def test_a_folder_that_is_no_model_says_so(fresh_cache, tmp_path) -> None:
    with pytest.raises(ModelError, match="not a transformers model folder"):
        models.load(str(tmp_path))


def test_the_environment_picks_the_model(fresh_cache, monkeypatch) -> None:
    monkeypatch.setenv("QA_SEMANTIC_MODEL", "no-such-model")
    with pytest.raises(ModelError, match="no-such-model"):
        models.load()
