"""Re-scoring a stored analysis gives the pipeline's own scorecard back, and follows a new rubric."""

from __future__ import annotations

import copy
import json

from qa_engine.rescore import rescore
from qa_engine.scoring.rubric import load, parse


def test_rescore_of_stored_json_equals_the_pipeline_scorecard(analysed) -> None:
    result = analysed("zh_loud_and_quiet")
    stored = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))  # as a database keeps it
    card, events = rescore(stored, load("zh_callcenter"))
    assert card.to_dict() == stored["scorecard"]
    assert [e.to_dict() for e in events] == stored["events"]


def test_rescore_under_a_stricter_rubric_version_changes_the_verdict(analysed) -> None:
    result = analysed("zh_loud_and_quiet")
    stored = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    import yaml

    from qa_engine.paths import rubrics_dir

    data = yaml.safe_load((rubrics_dir() / "zh_callcenter.yaml").read_text(encoding="utf-8"))
    strict = copy.deepcopy(data)
    strict["version"] = "strict-1"
    for item in strict["items"]:
        if item["id"] == "speech_rate":
            item["params"].update(band=[80, 100], fast_above=120, slow_below=60)  # every normal turn is "too fast"
    card, events = rescore(stored, parse(strict, "strict.yaml"))
    assert card.version == "strict-1"
    assert any(e.type == "fast_speech" for e in events)
    assert not any(e["type"] == "fast_speech" for e in stored["events"])
    rate = next(i for i in card.items if i.id == "speech_rate")
    assert rate.status in ("fail", "needs_review")
    assert rate.score is not None and rate.score < rate.max
