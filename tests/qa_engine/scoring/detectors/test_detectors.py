"""Detector cases as data (cases.yaml), run with the shipped rubrics' own parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from qa_engine.scoring.detectors import REGISTRY
from qa_engine.scoring.rubric import load

CASES = yaml.safe_load((Path(__file__).parent / "cases.yaml").read_text(encoding="utf-8"))


def _param(case: dict) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if case.get("xfail") else []
    return pytest.param(case, id=case["id"], marks=marks)


@pytest.fixture(scope="module")
def rubrics():
    return {name: load(name) for name in ("zh_callcenter", "en_callcenter")}


def test_cases_file_is_well_formed():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    for c in CASES:
        assert c["expect"] in ("hit", "no_hit"), c["id"]
        assert c["turns"], c["id"]


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_detector_case(case, rubrics, make_context):
    rubric = rubrics[case["rubric"]]
    entry = next(e for e in [*rubric.items, *rubric.flags] if e.id == case["item"])
    ctx = make_context(rubric.language, case["turns"], case.get("length_s"), case.get("ring_s"))
    finding = REGISTRY[entry.detector].run(ctx, rubric.compiled[entry.id])
    if "applicable" in case:
        assert finding.applicable is case["applicable"], finding.detail
    events = [e for e in finding.events if e.type == case["event"]] if case.get("event") else finding.events
    if case["expect"] == "hit":
        assert events, f"expected a hit, got none: {finding.detail}"
        if case.get("phrase"):
            assert case["phrase"] in [e.phrase for e in events], [e.phrase for e in events]
        # The evidence points into the call: inside its span and on the right party.
        for e in events:
            assert 0.0 <= e.start <= e.end <= ctx.length_s
        assert not finding.passed or not finding.applicable or case["item"] == "dead_air"
    else:
        assert not events, [(e.type, e.phrase, e.text, e.detail) for e in events]
