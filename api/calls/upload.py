"""Upload bodies read as they arrive, not parsed whole before the route runs.

FastAPI parses `File`/`Form` parameters (the whole body, written to disk) before any
dependency runs, so a request without a key, or far over the size limit, cost the disk
and the time of its whole body. Routes that take uploads read `request.stream()` here
instead, after the key was checked: each file part goes to its own `.part` file in
pieces of at most `BUFFER` bytes, written and hashed in a worker thread (not on the
event loop), refused with 413 as soon as it passes its limit, and made durable (fsync)
before the route stores it. Text fields (metadata) are held in memory, at most
`FIELD_LIMIT` bytes each. On any failure every file written so far is removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from api.problems import Problem
from api.storage import AudioStore, Incoming, TooLarge

BUFFER = 512 * 1024  # a file part's bytes held in memory before they are handed to the writer thread
FIELD_LIMIT = 64 * 1024  # one text field (the metadata JSON)
MAX_PARTS = 1000


@dataclass(frozen=True)
class FilePart:
    """How a file part may arrive: its limit, and what to tell a sender who passes it."""

    limit: int
    too_large: str


@dataclass
class ReceivedFile:
    name: str  # the form field
    filename: str
    path: Path  # the durable `.part` file, for AudioStore.commit
    sha256: str
    size: int

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class ReceivedForm:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[ReceivedFile] = field(default_factory=list)

    def discard(self) -> None:
        for f in self.files:
            f.discard()


@dataclass
class _Part:
    name: str = ""
    filename: str = ""
    kind: str = "ignored"  # file | field | ignored
    text: bytearray = field(default_factory=bytearray)
    pending: bytearray = field(default_factory=bytearray)  # file bytes not yet written
    incoming: Incoming | None = None


def _boundary(request: Request, expect: str) -> bytes:
    ctype, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise Problem(415, f"send the upload as multipart/form-data ({expect}); got "
                      f"{ctype.decode('latin-1') or 'no Content-Type'}", code="unsupported_media_type")
    return boundary


async def read_form(request: Request, store: AudioStore, *, files: dict[str, FilePart], text_fields: tuple[str, ...],
                    total_limit: int, max_files: int, expect: str) -> ReceivedForm:
    """The multipart body of `request`: its text fields and its file parts, stored durably as `.part` files.

    `files` names the file fields and their limits; other parts are read past and dropped. Problem 413
    when a part or the whole body passes its limit, 422 when the body is not complete multipart.
    """
    boundary = _boundary(request, expect)
    form = ReceivedForm()
    parts: list[_Part] = []
    file_parts: list[_Part] = []
    field_names: set[str] = set()
    headers: dict[bytes, bytes] = {}
    header_name, header_value = bytearray(), bytearray()
    ended = False

    def on_part_begin() -> None:
        if len(parts) >= MAX_PARTS:
            raise Problem(422, f"the form has over {MAX_PARTS} parts", code="invalid_request")
        parts.append(_Part())
        headers.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        part = parts[-1]
        _, params = parse_options_header(headers.get(b"content-disposition"))
        part.name = params.get(b"name", b"").decode("utf-8", "replace")
        part.filename = params.get(b"filename", b"").decode("utf-8", "replace").replace("\x00", "")
        if part.name in files:
            if len(file_parts) >= max_files:
                raise Problem(422, f"more file parts than this request takes: send {expect}", code="invalid_request")
            part.kind = "file"
            part.incoming = store.incoming(files[part.name].limit)
            file_parts.append(part)
        elif part.name in text_fields and part.name not in field_names:  # the first of each: bounded memory
            part.kind = "field"
            field_names.add(part.name)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part = parts[-1]
        if part.kind == "file":
            spec = files[part.name]
            assert part.incoming is not None
            if part.incoming.size + len(part.pending) + end - start > spec.limit:
                raise Problem(413, spec.too_large, code="too_large", headers={"Connection": "close"})
            part.pending.extend(data[start:end])
        elif part.kind == "field":
            part.text.extend(data[start:end])
            if len(part.text) > FIELD_LIMIT:
                raise Problem(413, f"the '{part.name}' field is over {FIELD_LIMIT // 1024} KB",
                              code="too_large", headers={"Connection": "close"})

    def on_end() -> None:
        nonlocal ended
        ended = True

    callbacks: dict[str, Callable[..., None]] = {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
        "on_end": on_end}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > total_limit:
                raise Problem(413, f"the request body is over the limit of {total_limit / 2**20:.4g} MB",
                              code="too_large", headers={"Connection": "close"})
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise Problem(422, f"the multipart body is malformed ({exc}); send {expect}",
                              code="invalid_request") from exc
            for part in file_parts:  # a full buffer, or what is left of a part that has ended
                if len(part.pending) >= BUFFER or (part.pending and part is not parts[-1]):
                    data, part.pending = bytes(part.pending), bytearray()
                    await run_in_threadpool(part.incoming.write, data)  # type: ignore[union-attr]
        if not ended:
            raise Problem(422, f"the multipart body ends before its closing boundary; send {expect}",
                          code="invalid_request")
        for part in parts:
            if part.kind == "field":
                try:
                    form.fields[part.name] = part.text.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise Problem(422, f"the '{part.name}' field is not UTF-8 text",
                                  code="invalid_request") from exc
            elif part.incoming is not None:
                data, part.pending = bytes(part.pending), bytearray()
                path, sha, size = await run_in_threadpool(part.incoming.finish, data)
                form.files.append(ReceivedFile(part.name, part.filename, path, sha, size))
    except BaseException as exc:
        for part in parts:
            if part.incoming is not None:
                part.incoming.discard()
        if isinstance(exc, ClientDisconnect):
            raise Problem(400, "the client closed the connection before the upload was complete",
                          code="incomplete_upload") from exc
        if isinstance(exc, TooLarge):  # a limit passed between the checks above and the write: the same answer
            raise Problem(413, "the upload is over its size limit", code="too_large",
                          headers={"Connection": "close"}) from exc
        raise
    return form
