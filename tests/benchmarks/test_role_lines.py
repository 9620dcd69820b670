"""The role head's training lines and their heard copies (benchmarks/speakers) stay in step."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SPEAKERS = Path(__file__).resolve().parents[2] / "benchmarks" / "speakers"


def _train_role_head():
    spec = importlib.util.spec_from_file_location("train_role_head", SPEAKERS / "train_role_head.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_heard_line_is_a_training_line_and_each_training_line_was_heard(lang):
    """hear_role_lines.py writes one heard copy per training line; a line edited or added since must be heard again
    (`python benchmarks/speakers/hear_role_lines.py --lang LANG`), or `train_role_head.py --heard` trains on copies
    of lines that no longer exist and leaves the new ones out."""
    trainer = _train_role_head()
    written = {text for text, _ in trainer.training_lines(lang)}
    heard = trainer.heard_lines(trainer.heard_path(lang))
    assert set(heard) == written
    assert all(copy.strip() for copy in heard.values())


def test_heard_lines_of_a_missing_file_are_none(tmp_path):
    assert _train_role_head().heard_lines(tmp_path / "absent.tsv") == {}
