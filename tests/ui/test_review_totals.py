"""Review of a transcript's scorecard: items the machine could not judge (not applicable) count nowhere."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from api.config import Settings
from api.database.core import Database
from qa_engine.pipeline import analyze_transcript
from qa_engine.transcript import parse_transcript
from tests.qa_engine.test_transcript import labelled_transcript


@pytest.fixture()
def stored(tmp_path) -> Any:
    """A real (SQLite) database holding one call analysed from its transcript."""
    from api.auth.models import ApiKey
    from api.calls.models import Call, Result

    db = Database(Settings(data_dir=tmp_path))
    db.migrate()
    result = analyze_transcript(parse_transcript(labelled_transcript("zh_fast_talker"))).to_dict()
    result = json.loads(json.dumps(result, ensure_ascii=False))
    day = datetime(2026, 11, 20, 9)
    with db.session() as s:
        s.add(ApiKey(id="k1", key_hash="0" * 64, prefix="qa_", role="client"))
        s.flush()
        s.add(Call(id="c1", client_id="k1", status="done", audio_sha256="0" * 64, audio_size=0,
                   audio_format="json", call_date=day, score=result["scorecard"]["total"]))
        s.flush()
        s.add(Result(call_id="c1", call_info=result["call"], metrics=result["metrics"], turns=result["turns"],
                     events=result["events"], scorecard=result["scorecard"], speech=result["speech"],
                     analysis_s=0.1, worker_id="test"))
        s.commit()
    return db, result


def test_inspector_review_of_a_transcript_scorecard(stored):
    from types import SimpleNamespace

    from api.calls.models import Call
    from api.reports.service import calibration
    from api.review.service import finalize, set_item

    db, result = stored
    card = result["scorecard"]
    inspector = SimpleNamespace(username="insp", role="inspector")
    with db.session() as s:
        call = s.get(Call, "c1")
        # Confirming a not-applicable item keeps it unscored; the total stays the machine's.
        review = set_item(s, inspector, call, "volume", "not_applicable", None, "no recording")
        assert review.items["volume"]["score"] is None
        assert review.score == pytest.approx(card["total"])
        review = set_item(s, inspector, call, "speech_rate", "pass", 10.0, "listened: clear enough")
        assert review.score == pytest.approx(card["total"] + 10.0)
        for item in ("business_knowledge", "problem_solved"):  # manual items: scored before finalising
            set_item(s, inspector, call, item, "pass", None, "")
        finalize(s, inspector, call)
        rows = calibration(s, datetime(2026, 11, 20), datetime(2026, 11, 21))
    by_item = {r["item"]: r for r in rows}
    # Not applicable is no machine verdict to agree or disagree with: it stays out of calibration.
    assert "volume" not in by_item and "intonation" not in by_item
    assert by_item["speech_rate"]["overridden"] == 1 and by_item["greeting"]["overridden"] == 0
