"""Rubrics: the bundled ones (rubrics/*.yaml) and versions uploaded through the API.

A reference is `id` (the newest version: uploaded, else bundled) or `id@version`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.problems import Problem
from api.rubrics.models import RubricVersion
from qa_engine import RubricError
from qa_engine.scoring.rubric import Rubric, list_rubrics, load, parse

log = logging.getLogger("api.rubrics")


@dataclass
class Resolved:
    rubric: Rubric
    path: Path  # what the engine loads
    source: str  # bundled | uploaded
    document: dict[str, Any]


def _bundled() -> dict[str, Path]:
    return {p.stem: p for p in list_rubrics()}


def _bundled_doc(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc if isinstance(doc, dict) else {}


def _materialise(rubric_dir: Path, row: RubricVersion) -> Path:
    # Named by the row: a version stored before versions were checked may hold '/' or '..'.
    path = rubric_dir / f"uploaded-{row.id}.yaml"
    if not path.exists():
        rubric_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(row.document, allow_unicode=True, sort_keys=False), encoding="utf-8")
        tmp.replace(path)
    return path


def _parse_row(row: RubricVersion) -> Rubric:
    """An uploaded version as the engine reads it; RubricError for one stored before the checks it now fails."""
    return parse(row.document, f"{row.rubric_id}@{row.version}")


def resolve(session: Session, rubric_dir: Path, ref: str) -> Resolved:
    """The rubric a reference names; Problem 422 when there is none."""
    rid, _, version = ref.partition("@")
    q = select(RubricVersion).where(RubricVersion.rubric_id == rid)
    if version:
        q = q.where(RubricVersion.version == version)
    row = session.scalars(q.order_by(RubricVersion.id.desc()).limit(1)).first()
    if row is not None:
        try:
            rubric = _parse_row(row)
        except RubricError as exc:
            raise Problem(422, f"the stored rubric {exc}; upload it again under a valid version and use that",
                          code="bad_rubric") from exc
        return Resolved(rubric, _materialise(rubric_dir, row), "uploaded", row.document)
    bundled = _bundled()
    # The bundled file is named by its id (zh_callcenter.yaml).
    if rid in bundled:
        try:
            rubric = load(bundled[rid])
        except RubricError as exc:
            raise Problem(422, str(exc), code="bad_rubric") from exc
        if not version or version == rubric.version:
            return Resolved(rubric, bundled[rid], "bundled", _bundled_doc(bundled[rid]))
    known = sorted(set(bundled) | set(session.scalars(select(RubricVersion.rubric_id).distinct())))
    what = f"rubric {rid!r} version {version!r}" if version else f"rubric {rid!r}"
    raise Problem(422, f"{what} not found; known rubrics: {', '.join(known)} (GET /v1/rubrics lists "
                  "versions)", code="unknown_rubric")


def summary(rubric: Rubric, source: str) -> dict[str, Any]:
    return {"id": rubric.id, "version": rubric.version, "language": rubric.language, "name": rubric.name,
            "name_en": rubric.name_en, "items": len(rubric.items), "max_points": rubric.max_points,
            "pass_score": rubric.pass_score, "source": source}


def list_all(session: Session) -> list[dict[str, Any]]:
    out = []
    for path in _bundled().values():
        try:
            out.append(summary(load(path), "bundled"))
        except RubricError:
            continue
    for row in session.scalars(select(RubricVersion).order_by(RubricVersion.rubric_id, RubricVersion.id)):
        try:
            out.append(summary(_parse_row(row), "uploaded"))
        except RubricError as exc:  # stored before the checks it now fails: left out, not a failed listing
            log.warning("rubric version row %s left out of the list: %s", row.id, exc)
    return out


def versions(session: Session, rid: str) -> list[dict[str, Any]]:
    return [r for r in list_all(session) if r["id"] == rid]


def upload(session: Session, document: dict[str, Any], created_by: str) -> dict[str, Any]:
    try:
        rubric = parse(document, "uploaded rubric")
    except RubricError as exc:
        raise Problem(422, str(exc), code="bad_rubric") from exc
    if any(r["id"] == rubric.id and r["version"] == rubric.version for r in list_all(session)):
        raise Problem(409, f"rubric {rubric.id!r} version {rubric.version!r} exists already; versions are "
                      "immutable so old scorecards keep theirs: upload with a new 'version'",
                      code="rubric_version_exists")
    session.add(RubricVersion(rubric_id=rubric.id, version=rubric.version, language=rubric.language,
                              document=document, created_by=created_by))
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Problem(409, f"rubric {rubric.id!r} version {rubric.version!r} exists already",
                      code="rubric_version_exists") from exc
    return summary(rubric, "uploaded")
