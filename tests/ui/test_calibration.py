"""Cohen's kappa against worked examples."""

from __future__ import annotations

import pytest

from api.reports.service import cohen_kappa


def test_kappa_worked_example() -> None:
    # 50 pairs: 20 both pass, 15 both fail, 5 machine pass / human fail, 10 machine fail / human pass.
    pairs = [("pass", "pass")] * 20 + [("fail", "fail")] * 15 + [("pass", "fail")] * 5 + [("fail", "pass")] * 10
    # p_o = 0.7; p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = 0.4
    assert cohen_kappa(pairs) == pytest.approx(0.4)


def test_kappa_edges() -> None:
    assert cohen_kappa([]) is None
    assert cohen_kappa([("pass", "pass")] * 4) is None  # chance agreement 1: undefined
    assert cohen_kappa([("pass", "pass"), ("fail", "fail")]) == pytest.approx(1.0)
    assert cohen_kappa([("pass", "fail"), ("fail", "pass")]) == pytest.approx(-1.0)


def test_sampling_plan_takes_a_share_of_passing_calls_per_agent_and_day() -> None:
    from datetime import datetime
    from types import SimpleNamespace

    from api.review.service import mark_sample

    rows = [{"call": SimpleNamespace(id=f"c{a}{i}", agent_id=a, call_date=datetime(2026, 11, 20, 9)),
             "flagged": i == 0, "sampled": False} for a in ("A1", "A2") for i in range(11)]
    mark_sample(rows, 0.2)  # 10 passing calls per agent: 2 each
    for a in ("A1", "A2"):
        picked = [r for r in rows if r["call"].agent_id == a and r["sampled"]]
        assert len(picked) == 2 and not any(r["flagged"] for r in picked)
    again = [dict(r, sampled=False) for r in rows]
    mark_sample(again, 0.2)
    assert [r["sampled"] for r in again] == [r["sampled"] for r in rows]  # stable between page loads
