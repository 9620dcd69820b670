"""Property-based fuzzing of every operation in /openapi.json (schemathesis CLI), on SQLite and PostgreSQL:
no 5xx, ever. The service holds an analysed call, an uploaded rubric and a webhook first, and their ids are
fed to the fuzzer beside random ones, so the operations on a call reach past their 404."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.api.conftest import Server, submit, wait_done
from tests.api.test_inputs import rubric_doc

MAX_EXAMPLES = 30


def _seed(srv: Server, admin_key: str) -> dict[str, list[str]]:
    """Real things for the fuzzer to find: a call analysed to the end, a rubric version, a webhook."""
    with srv.client(admin_key) as admin:
        client_key = admin.post("/v1/keys", json={"role": "client", "name": "fuzz"}).json()["key"]
        assert admin.post("/v1/rubrics", json=rubric_doc("fuzz", "1")).status_code == 201
    with srv.client(client_key) as c:
        r = submit(c, metadata={"external_id": "fuzz-1", "agent_id": "A1", "team": "fuzz",
                                "started_at": "2024-05-06T09:30:00+08:00"})
        assert r.status_code == 202, r.text
        call_id = r.json()["id"]
        assert wait_done(c, call_id, timeout=400)["status"] == "done"
        hook = c.post("/v1/webhooks", json={"url": "https://crm.example/qa"})
        hooks = [hook.json()["id"]] if hook.status_code == 201 else []
    return {"calls": [call_id], "rubrics": ["fuzz", "zh_callcenter", "en_callcenter"], "webhooks": hooks}


# Inputs that broke the service once (issue 12), drawn for any string parameter and the bodies' text fields
# a quarter of the time; random generation alone rarely reaches them.
HOSTILE = ["a\x00b", "%00", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2024-05-06T09:30:00+99:00",
           '=HYPERLINK("http://evil.example","bonus")', "@SUM(1+1)", "../../etc/passwd", "1/2", "a\x07b", "",
           "W10", "WzEsIDVd", "WyJ4IixbMV1d", "W3RydWUsICJhIl0", "[" * 10_000 + "]" * 10_000, "NaN", "1e999", "-1",
           "9" * 5000, '{"started_at": "9999-12-31T23:59:59-23:59"}', '{"agent_id": "a\x00"}', '{"rubric": "x@1/2"}',
           "zh_callcenter@1/2", "\u202e", "x" * 5000]
BODY_TEXT = ("metadata", "url", "name", "rubric")


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string (\uXXXX escapes included)


def _config(path: Path, admin_key: str, ids: dict[str, list[str]]) -> Path:
    """schemathesis.toml: the admin key on every request; the seeded ids drawn half the time, hostile text a
    quarter of the time."""
    lines = [f"headers = {{ Authorization = {_toml('Bearer ' + admin_key)} }}", ""]
    dictionaries = {**ids, "hostile": HOSTILE}
    for name, values in dictionaries.items():
        if values:
            lines += [f"[dictionaries.{name}]", f"values = [{', '.join(_toml(v) for v in values)}]", ""]
    lines += ["[generation.dictionaries]", 'string = { dictionary = "hostile", probability = 0.25 }', "",
              "[parameters]"]
    for param, name in (("path.call_id", "calls"), ("path.rubric_id", "rubrics"), ("path.webhook_id", "webhooks")):
        if ids[name]:
            lines.append(f'"{param}" = {{ dictionary = "{name}", probability = 0.5 }}')
    lines += [f'"body.{field}" = {{ dictionary = "hostile", probability = 0.25 }}' for field in BODY_TEXT]
    # Deleting the analysed call early would leave the other operations on it nothing to read.
    lines += ["", "[[operations]]", 'include-name = "DELETE /v1/calls/{call_id}"',
              'parameters = { "path.call_id" = "0123456789abcdef0123456789abcdef" }', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_no_server_errors(backend: str, tmp_path: Path) -> None:
    srv = Server(tmp_path / "qa", backend, QA_WORKERS="1", QA_PRELOAD_MODEL="false")
    srv.start(wait_ready=False)
    try:
        key = srv.cli("keys", "create", "--role", "admin")
        config = _config(tmp_path / "schemathesis.toml", key, _seed(srv, key))
        st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
        cmd = [st, "--config-file", str(config), "run", f"{srv.base}/openapi.json", "--checks", "not_a_server_error",
               "--max-examples", str(MAX_EXAMPLES), "--phases", "examples,coverage,fuzzing,stateful", "--seed", "1",
               "--request-timeout", "60", "--no-shrink", "--suppress-health-check", "all"]
        out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=540)
        text = out.stdout + out.stderr
        tail = text[-6000:]
        assert out.returncode == 0, tail
        tested = re.search(r"Tested:\s+(\d+)", text)
        cases = re.search(r"(\d+) generated", text)
        assert tested and cases, tail
        spec = srv.client(key).get("/openapi.json").json()
        operations = sum(len(item) for item in spec["paths"].values())
        assert int(tested.group(1)) == operations, tail  # every operation reached
        assert "Server error" not in text and "ST101" not in text, tail
        print(f"schemathesis on {'PostgreSQL' if backend else 'SQLite'}: {operations} operations, "
              f"{cases.group(1)} test cases, 0 server errors")
    finally:
        srv.stop()
