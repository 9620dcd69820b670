"""The review's rules on a real (SQLite) database holding calls analysed from their transcripts by the real
engine: calibration counts an inspector's decision on a needs_review item as an override; finalising waits for
the manual items; a rescore is a version the inspector adopts, never in another language; every id the pages
show has a name in both languages."""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from api.config import Settings
from api.database.core import Database
from api.problems import Problem
from qa_engine.pipeline import analyze_transcript
from qa_engine.rescore import rescore
from qa_engine.scoring.rubric import parse
from qa_engine.transcript import parse_transcript
from tests.api.conftest import ROOT
from tests.qa_engine.test_transcript import labelled_transcript

DAY = datetime(2026, 11, 20, 9)
INSPECTOR = SimpleNamespace(username="insp", role="inspector")


def unsure_conduct_rubric() -> Any:
    """The Mandarin rubric as a centre may set it: every conduct finding goes to a person (sure score 1.0)."""
    doc = yaml.safe_load((ROOT / "rubrics" / "zh_callcenter.yaml").read_text(encoding="utf-8"))
    conduct = next(i for i in doc["items"] if i["id"] == "conduct")
    conduct["params"] = {**conduct.get("params", {}), "sure_score": 1.0}
    doc["version"] = "unsure-conduct"
    return parse(doc, "unsure-conduct")


def brush_off_call() -> dict[str, Any]:
    """A Mandarin call whose agent brushes the customer off in words no phrase list holds."""
    lines = [("agent", "您好，很高兴为您服务，请问有什么可以帮您？"),
             ("customer", "我的退款怎么还没到账？钱被扣了都没人给个说法，我非常生气！"),
             ("agent", "这事儿跟我们没关系，你问别人去吧")]
    return {"lang": "zh", "turns": [{"speaker": who, "start": 0.5 + 3.5 * i, "end": 3.5 + 3.5 * i, "text": text}
                                    for i, (who, text) in enumerate(lines)]}


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    from api.auth.models import ApiKey

    database = Database(Settings(data_dir=tmp_path))
    database.migrate()
    with database.session() as s:
        s.add(ApiKey(id="k1", key_hash="0" * 64, prefix="qa_", role="client"))
        s.commit()
    return database


def store(db: Database, call_id: str, result: dict[str, Any]) -> None:
    from api.calls.models import Call, Result
    from api.jobs.service import summary_fields

    result = json.loads(json.dumps(result, ensure_ascii=False))
    card = result["scorecard"]
    with db.session() as s:
        s.add(Call(id=call_id, client_id="k1", status="done", audio_sha256="0" * 64, audio_size=0,
                   audio_format="json", call_date=DAY, rubric=f"{card['rubric']}@{card['version']}",
                   **summary_fields(card)))
        s.flush()
        s.add(Result(call_id=call_id, call_info=result["call"], metrics=result["metrics"], turns=result["turns"],
                     events=result["events"], scorecard=card, speech=result["speech"], analysis_s=0.1,
                     worker_id="test"))
        s.commit()


def analysed(name: str) -> dict[str, Any]:
    return analyze_transcript(parse_transcript(labelled_transcript(name))).to_dict()


def test_deciding_a_needs_review_item_counts_as_an_override(db: Database) -> None:
    from api.calls.models import Call
    from api.reports.service import calibration
    from api.review.service import finalize, set_item

    result = analyze_transcript(parse_transcript(brush_off_call())).to_dict()
    card, events = rescore(result, unsure_conduct_rubric())
    result = {**result, "scorecard": card.to_dict(), "events": [e.to_dict() for e in events]}
    conduct = next(i for i in result["scorecard"]["items"] if i["id"] == "conduct")
    assert conduct["status"] == "needs_review", conduct  # the machine left it to a person
    store(db, "c1", result)
    with db.session() as s:
        call = s.get(Call, "c1")
        set_item(s, INSPECTOR, call, "conduct", "fail", 0.0, "rude: the agent hung up on the customer")
        for item in ("business_knowledge", "problem_solved"):
            set_item(s, INSPECTOR, call, item, "pass", None, "")
        finalize(s, INSPECTOR, call)
        rows = {r["item"]: r for r in calibration(s, datetime(2026, 11, 20), datetime(2026, 11, 21))}
    assert rows["conduct"]["overridden"] == 1 and rows["conduct"]["agreement"] == 0.0
    assert rows["conduct"]["examples"] == ["c1"]
    assert rows["greeting"]["overridden"] == 0  # left alone: confirmed


def test_finalise_waits_for_the_manual_items(db: Database) -> None:
    from api.calls.models import Call
    from api.review.models import Review
    from api.review.service import finalize, set_item

    store(db, "c1", analysed("zh_fast_talker"))
    with db.session() as s:
        call = s.get(Call, "c1")
        with pytest.raises(Problem) as refused:
            finalize(s, INSPECTOR, call)
        assert refused.value.status == 409 and refused.value.code == "manual_unscored"
        assert refused.value.extra["items"] == ["business_knowledge", "problem_solved"]
        assert "business_knowledge" in refused.value.detail and "problem_solved" in refused.value.detail
        set_item(s, INSPECTOR, call, "business_knowledge", "pass", 8.0, "")
        with pytest.raises(Problem) as still:
            finalize(s, INSPECTOR, call)
        assert still.value.extra["items"] == ["problem_solved"]
        set_item(s, INSPECTOR, call, "problem_solved", "fail", 0.0, "the customer had to call back")
        review = finalize(s, INSPECTOR, call)
        assert review.finalized and s.get(Review, "c1").finalized


def test_a_rescore_is_a_version_adopted_by_the_inspector(db: Database, tmp_path: Path) -> None:
    from api.calls.models import Call
    from api.review import service as svc
    from api.review.models import AuditEntry
    from api.rubrics.service import upload

    settings = Settings(data_dir=tmp_path)
    store(db, "zh", analysed("zh_fast_talker"))
    doc = yaml.safe_load((ROOT / "rubrics" / "zh_callcenter.yaml").read_text(encoding="utf-8"))
    strict = copy.deepcopy(doc)
    strict["version"] = "strict-1"
    next(i for i in strict["items"] if i["id"] == "greeting")["points"] = 30
    with db.session() as s:
        upload(s, strict, "admin")
        call = s.get(Call, "zh")
        official = call.score
        # A Mandarin call is not rescored with the English rubric: refused, the official score untouched.
        with pytest.raises(Problem) as refused:
            svc.rescore(s, settings, "insp", call, "en_callcenter")
        assert refused.value.status == 422 and refused.value.code == "rubric_language"
        assert refused.value.extra == {"call_language": "zh", "rubric_language": "en"}
        assert s.get(Call, "zh").score == official and svc.rescores(s, call) == []
        # The same language: kept as a proposed version; the official result unchanged until adopted.
        version = svc.rescore(s, settings, "insp", call, "zh_callcenter@strict-1")
        assert version.status == "proposed" and version.scorecard["total"] != official
        assert s.get(Call, "zh").score == official and s.get(Call, "zh").rubric.endswith(doc["version"])
        adopted = svc.adopt(s, settings, "insp", call, version)
        assert adopted.status == "adopted" and adopted.decided_by == "insp"
        assert s.get(Call, "zh").score == version.scorecard["total"]
        assert s.get(Call, "zh").rubric == "zh_callcenter@strict-1"
        with pytest.raises(Problem) as again:
            svc.adopt(s, settings, "insp", call, version)
        assert again.value.status == 409
        actions = [(a.action, a.before, a.after) for a in s.query(AuditEntry).order_by(AuditEntry.id)]
    assert [a[0] for a in actions] == ["rescore", "adopt_rescore"]
    assert actions[1][1]["total"] == official and actions[1][2] == {"rubric": "zh_callcenter@strict-1",
                                                                    "total": version.scorecard["total"]}


def shown_ids() -> set[str]:
    """Every id a page can show: item statuses, the bundled rubrics' items and flags, the engine's event types
    and semantic labels, roles, appeal states and audit actions."""
    from api.auth.models import ROLES, USER_ROLES
    from api.review.service import ITEM_STATUSES
    from qa_engine.privacy.numbers import KINDS
    from qa_engine.semantic.classifier import AGENT_LABELS, CUSTOMER_LABELS

    ids = set(ITEM_STATUSES) | set(ROLES) | set(USER_ROLES) | set(AGENT_LABELS) | set(CUSTOMER_LABELS) | set(KINDS)
    ids |= {"open", "accepted", "rejected", "override", "finalize", "appeal", "appeal_accepted", "appeal_rejected",
            "rescore", "adopt_rescore", "proposed", "adopted", "superseded", "fast_speech", "slow_speech",
            "missing_greeting", "missing_closing"}
    for path in (ROOT / "rubrics").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        ids |= {i["id"] for i in doc["items"]} | {f["id"] for f in doc.get("flags", [])}
    for path in (ROOT / "qa_engine" / "scoring").rglob("*.py"):
        ids |= set(re.findall(r'(?:Event|utterance_event)\("([a-z_]+)"', path.read_text(encoding="utf-8")))
    return ids


def test_every_id_the_pages_show_has_a_name_in_both_languages() -> None:
    from api.ui.i18n import NAMES, namer

    ids = shown_ids()
    assert {"escalation", "needs_review", "fast_speech", "open", "rejected", "conduct", "confidence",
            "agent_conduct", "customer_emotion", "not_applicable", "privacy_officer", "dismissive"} <= ids
    missing = sorted(i for i in ids if i not in NAMES)
    assert not missing, f"no name for {missing}"
    zh, en = namer("zh"), namer("en")
    for i in ids:
        assert re.search(r"[\u4e00-\u9fff]", zh(i)), (i, zh(i))
        assert en(i) and en(i) != zh(i)
    assert zh("some_new_id") == "some_new_id"  # an id nobody named yet shows as itself
