"""What the API accepts from a client, checked in one place for every route.

- Text: no NUL (PostgreSQL refuses it in text columns and query parameters) and no lone surrogate
  (not encodable as UTF-8): `storable` is the one check, used by the schemas (`Text`), by the JSON
  reader and by `InputGuard` for URLs and form bodies.
- Times: a client's time with its offset converted to the naive UTC the database stores; one that
  falls outside the years 1-9999 once converted is refused (`UtcTime`).
- JSON: at most MAX_JSON_BYTES and MAX_JSON_DEPTH levels, the depth counted before parsing (`loads`).

A refusal is a 422 (413 for size) problem+json whose detail says what to change.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response

MAX_JSON_BYTES = 1024 * 1024  # a rubric is ~20 KB; every other JSON body is far smaller
MAX_JSON_DEPTH = 32  # a rubric nests 5 deep
MAX_FORM_BYTES = 256 * 1024  # the web UI's forms (comments, appeals): a few KB
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


class InputError(ValueError):
    """A client's input this service does not take; the message says why, for the problem's detail."""


def storable(value: str) -> str:
    """`value` unchanged, or ValueError when a database cannot store it as text."""
    if "\x00" in value:
        raise InputError("must not contain the NUL character (\\u0000)")
    if _SURROGATE.search(value):
        raise InputError("must be valid Unicode text (it holds a lone UTF-16 surrogate)")
    return value


Text = Annotated[str, AfterValidator(storable)]


def naive_utc(value: datetime) -> datetime:
    """A client's time as the naive UTC the database stores (a time without offset is taken as UTC)."""
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC).replace(tzinfo=None)
    except (OverflowError, ValueError) as exc:
        raise InputError("is outside the years 1-9999 once converted to UTC; send a real time with its "
                         "offset, such as 2024-05-06T09:30:00+08:00") from exc


UtcTime = Annotated[datetime, AfterValidator(naive_utc)]


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests more than `limit` arrays and objects, counted without parsing it
    (linear: escapes dropped, then strings, then what is left is brackets)."""
    brackets = _STRING.sub(b"", _ESCAPE.sub(b"", raw)).translate(None, _NOT_BRACKET)
    depth = 0
    for b in brackets:
        if b == 0x5B or b == 0x7B:  # [ {
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def check_strings(value: Any, where: str = "") -> None:
    """Every string (keys too) in parsed JSON through `storable`; InputError names the first bad one."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        v, at = stack.pop()
        if isinstance(v, str):
            try:
                storable(v)
            except InputError as exc:
                raise InputError(f"{at or 'a string'}: {exc}") from None
        elif isinstance(v, dict):
            for k, item in v.items():
                key_at = f"{at}.{k}" if at else str(k)
                try:
                    storable(k)
                except InputError as exc:
                    raise InputError(f"a key in {at or 'the document'}: {exc}") from None
                stack.append((item, key_at))
        elif isinstance(v, list):
            stack.extend((item, f"{at}[{i}]") for i, item in enumerate(v))


def loads(raw: str | bytes, what: str = "the body", max_bytes: int = MAX_JSON_BYTES,
          max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a client's JSON within the bounds; InputError says what is wrong (size, depth, syntax, text)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise InputError(f"{what} is {len(data)} bytes of JSON; at most {max_bytes} are accepted")
    if json_too_deep(data, max_depth):
        raise InputError(f"{what} nests arrays and objects more than {max_depth} levels deep")
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") \
            from exc
    except (ValueError, RecursionError) as exc:  # an integer of thousands of digits, invalid UTF-8
        raise InputError(f"{what} is not JSON this service reads ({exc})") from exc
    try:
        check_strings(value, "")
    except InputError as exc:
        raise InputError(f"{what}, {exc}") from None
    return value


def _is_json(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))


class InputGuard:
    """Refuses, before any route runs: NUL in the URL, and JSON or form bodies that are too large, too deep
    or hold text no database stores. Multipart uploads pass through (their readers bound them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"] or b"\x00" in scope["query_string"]:
            await problem_response(422, "the URL holds a NUL character (%00); remove it", code="invalid_text",
                                   instance=scope["path"].replace("\x00", "\\0"))(scope, receive, send)
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        form = content_type.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded"
        if not (_is_json(content_type) or form):
            await self.app(scope, receive, send)
            return
        limit = MAX_JSON_BYTES if not form else MAX_FORM_BYTES
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await problem_response(413, f"the request body is over {limit // 1024} KB, the most this "
                                       "endpoint reads", code="too_large",
                                       headers={"Connection": "close"})(scope, receive, send)
                return
        detail = None
        if form:
            if b"%00" in body or b"\x00" in body:
                detail = "a form field holds a NUL character (%00); remove it"
        elif body:
            try:
                loads(bytes(body))
            except InputError as exc:
                detail = str(exc)
        if detail is not None:
            await problem_response(422, detail, code="invalid_body", instance=scope["path"])(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
