"""Rubric x call -> scorecard: each item scored with its evidence, then total, fatal, flags."""

from __future__ import annotations

from qa_engine.scoring.detectors import REGISTRY, CallContext, Finding
from qa_engine.scoring.rubric import Item, Rubric, Thresholds
from qa_engine.types import ATTRIBUTION_SURE, UNSCORED_STATUSES, Event, ItemStatus, Scorecard, ScoreItem, Turn

# Events that make a call worth a person's attention, most urgent first.
_FLAG_ORDER = ["escalation", "fatal", "needs_review", "pii"]


def _threshold_fraction(value: float, th: Thresholds) -> float:
    """1.0 at excellent, 0.8 at target, 0.6 at warning, linear between, 0 past warning."""
    sign = 1.0 if th.higher_is_better else -1.0
    v, e, t, w = sign * value, sign * th.excellent, sign * th.target, sign * th.warning
    if v >= e:
        return 1.0
    if v >= t:
        return 0.8 + 0.2 * (v - t) / (e - t) if e != t else 1.0
    if v >= w:
        return 0.6 + 0.2 * (v - w) / (t - w) if t != w else 0.8
    return 0.0


def _meets_target(value: float, th: Thresholds) -> bool:
    return value >= th.target if th.higher_is_better else value <= th.target


def score_item(item: Item, finding: Finding, review_below: float) -> ScoreItem:
    base = ScoreItem(id=item.id, name=item.name, name_en=item.name_en, category=item.category, score=None,
                     max=item.points, status="pass", fatal=item.fatal, value=finding.value,
                     detail=finding.detail, evidence=finding.evidence)
    if not finding.applicable:
        base.score, base.status = item.points, "pass"
        base.detail = base.detail or "not applicable to this call"
        return base
    if item.thresholds is not None and finding.value is not None:
        frac = _threshold_fraction(finding.value, item.thresholds)
        passed = _meets_target(finding.value, item.thresholds)
    elif item.deduct is not None:
        frac = max(0.0, 1.0 - item.deduct * len(finding.events) / item.points) if item.points else 1.0
        passed = finding.passed
    else:
        frac = 1.0 if finding.passed else 0.0
        passed = finding.passed
    base.score = round(item.points * frac, 2)
    base.status = "pass" if passed else "fail"
    if not passed:
        confs = [e.confidence for e in finding.evidence] or [1.0]
        if finding.needs_review or min(confs) < review_below:
            base.status = "needs_review"
    return base


def _unsure_speaker(item: ScoreItem, turns: list[Turn]) -> str | None:
    """Why the party behind an item's evidence is uncertain, or None when every evidence turn is sure."""
    for ev in item.evidence:
        for t in turns:
            if (t.attribution < ATTRIBUTION_SURE and t.start < ev.end + 0.05 and ev.start < t.end + 0.05
                    and (ev.speaker is None or ev.speaker == t.speaker)):
                return f"the {t.speaker}'s turn at {t.start:.1f} s is {t.attribution:.0%} sure"
    return None


def _unscored(item: Item, status: ItemStatus, detail: str) -> ScoreItem:
    return ScoreItem(id=item.id, name=item.name, name_en=item.name_en, category=item.category, score=None,
                     max=item.points, status=status, fatal=item.fatal, detail=detail)


def build_scorecard(rubric: Rubric, ctx: CallContext) -> tuple[Scorecard, list[Event]]:
    events: list[Event] = []
    items: list[ScoreItem] = []
    unsure_party: set[str] = set()  # failed on words whose party is uncertain: reviewed, never fatal alone
    for item in rubric.items:
        if item.manual:
            items.append(_unscored(item, "manual", "scored by the inspector"))
            continue
        assert item.detector is not None
        if REGISTRY[item.detector].needs_audio and not ctx.audio:
            items.append(_unscored(item, "not_applicable", "needs the recording: not judged on a transcript"))
            continue
        finding = REGISTRY[item.detector].run(ctx, rubric.compiled[item.id])
        events.extend(finding.events)
        items.append(score_item(item, finding, rubric.review_below_confidence))
        if items[-1].status == "fail" or (items[-1].status == "needs_review" and item.fatal):
            unsure = _unsure_speaker(items[-1], ctx.turns)
            if unsure is not None:
                items[-1].status = "needs_review"
                items[-1].detail = f"who said it is uncertain (mono call, {unsure}): {items[-1].detail}"
                unsure_party.add(item.id)
    flags: list[str] = []
    for flag in sorted(rubric.flags, key=lambda f: -f.priority):
        if REGISTRY[flag.detector].needs_audio and not ctx.audio:
            continue
        finding = REGISTRY[flag.detector].run(ctx, rubric.compiled[flag.id])
        events.extend(finding.events)
        if finding.events:
            flags.append(flag.id)
    # A fatal finding the ASR is unsure of still fails the call until an inspector overrides it;
    # one on words that may be the customer's (a mono mix separated with doubt) does not.
    fatal = any(i.fatal and i.status in ("fail", "needs_review") and i.id not in unsure_party for i in items)
    if fatal:
        flags.append("fatal")
    if ctx.attribution_review:
        events.append(Event(type="speaker_attribution", start=0.0, end=ctx.length_s, speaker=None,
                            detail=ctx.attribution_review))
    if any(i.status == "needs_review" for i in items) or ctx.attribution_review:
        flags.append("needs_review")
    flags.sort(key=lambda f: _FLAG_ORDER.index(f) if f in _FLAG_ORDER else len(_FLAG_ORDER))
    machine_max = sum(i.max for i in items if i.status not in UNSCORED_STATUSES)
    total = 0.0 if fatal else sum(i.score or 0.0 for i in items if i.status not in UNSCORED_STATUSES)
    # Manual and not-applicable items are not scored by the machine: the pass mark scales to what it did score.
    pass_mark = rubric.pass_score * (machine_max / rubric.max_points) if rubric.max_points else 0.0
    card = Scorecard(rubric=rubric.id, version=rubric.version, total=total, max=rubric.max_points,
                     passed=(not fatal) and total >= pass_mark, fatal=fatal, flags=flags, items=items,
                     pass_score=rubric.pass_score)
    events.sort(key=lambda e: (e.start, e.type))
    return card, events
