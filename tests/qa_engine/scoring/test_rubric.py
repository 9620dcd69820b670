"""The rubric loader: shipped rubrics load, broken ones are refused naming file, item and field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from qa_engine.errors import RubricError
from qa_engine.paths import rubrics_dir
from qa_engine.scoring.rubric import list_rubrics, load


@pytest.fixture(scope="module")
def zh_data() -> dict:
    return yaml.safe_load((rubrics_dir() / "zh_callcenter.yaml").read_text(encoding="utf-8"))


def _item(data: dict, item_id: str) -> dict:
    return next(i for i in data["items"] if i["id"] == item_id)


def test_shipped_rubrics_load_with_their_items():
    names = {p.stem for p in list_rubrics()}
    assert {"zh_callcenter", "en_callcenter"} <= names
    for name in ("zh_callcenter", "en_callcenter"):
        r = load(name)
        assert r.id == name and r.version
        assert r.max_points == sum(i.points for i in r.items) > r.pass_score
        assert any(i.fatal for i in r.items) and any(i.manual for i in r.items)
        for entry in [*r.items, *r.flags]:
            assert getattr(entry, "manual", False) or entry.id in r.compiled


def test_phrase_list_references_are_expanded():
    r = load("zh_callcenter")
    assert "请稍等" in [p if isinstance(p, str) else p.phrase for p in r.compiled["dead_air"].hold_announce]


def _break_unknown_detector(d):
    _item(d, "greeting")["detector"] = "opening_scrpt"


def _break_threshold_order(d):
    _item(d, "answer_delay")["thresholds"] = {"excellent": 2.0, "target": 6.0, "warning": 3.0}


def _break_missing_name(d):
    del _item(d, "volume")["name"]


def _break_params_type(d):
    _item(d, "speech_rate")["params"]["fast_above"] = "very fast"


def _break_unknown_phrase_list(d):
    _item(d, "polite_language")["params"]["phrases"] = "$politeness"


def _break_duplicate_ids(d):
    d["items"].append(copy.deepcopy(_item(d, "volume")))


def _break_invalid_regex(d):
    _item(d, "forbidden_phrases")["params"]["phrases"].append({"regex": "(喂|嗯什么事", "name": "喂什么事"})


def _break_unknown_field(d):
    _item(d, "closing")["weight"] = 3


BROKEN = {
    # case: (how to break it, what the message must name besides the file)
    "unknown_detector": (_break_unknown_detector, ["greeting", "opening_scrpt"]),
    "threshold_order": (_break_threshold_order, ["answer_delay", "thresholds", "order"]),
    "missing_name": (_break_missing_name, ["volume", "name", "required"]),
    "params_type": (_break_params_type, ["speech_rate", "params.fast_above"]),
    "unknown_phrase_list": (_break_unknown_phrase_list, ["polite_language", "$politeness"]),
    "duplicate_ids": (_break_duplicate_ids, ["duplicate", "volume"]),
    "invalid_regex": (_break_invalid_regex, ["forbidden_phrases", "params.phrases", "regular expression"]),
    "unknown_field": (_break_unknown_field, ["closing", "weight"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_rubric_is_refused_naming_file_item_and_field(case, zh_data, tmp_path):
    breaker, must_name = BROKEN[case]
    data = copy.deepcopy(zh_data)
    breaker(data)
    path = tmp_path / f"broken_{case}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RubricError) as info:
        load(path)
    msg = str(info.value)
    assert path.name in msg
    for word in must_name:
        assert word in msg, f"{word!r} not in: {msg}"


def test_invalid_yaml_is_refused_with_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("id: x\nitems: [\n  - id: a\n", encoding="utf-8")
    with pytest.raises(RubricError, match=r"(?s)bad\.yaml: not valid YAML.*line 3"):
        load(path)


def test_not_a_mapping_and_unknown_name(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(RubricError, match=r"list\.yaml: a rubric is a mapping"):
        load(path)
    with pytest.raises(RubricError, match=r"'nope' not found; known rubrics: .*zh_callcenter"):
        load("nope")


def test_manual_item_with_a_detector_is_refused(zh_data, tmp_path):
    data = copy.deepcopy(zh_data)
    _item(data, "business_knowledge")["detector"] = "volume"
    path = Path(tmp_path / "manual.yaml")
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RubricError, match=r"manual\.yaml: item 'business_knowledge'.*manual item"):
        load(path)
