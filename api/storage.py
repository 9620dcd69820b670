"""Content-addressed audio store: <data_dir>/audio/ab/cd/<sha256>, durable (fsync) before it is acknowledged."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from pathlib import Path
from typing import BinaryIO


class TooLarge(Exception):
    pass


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Incoming:
    """An upload being received: written to its `.part` file and hashed piece by piece; TooLarge past
    `limit` bytes. `finish` makes it durable (fsync) for `AudioStore.commit`; `discard` removes it."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path, self.limit, self.size = path, limit, 0
        self._hash = hashlib.sha256()
        self._out: BinaryIO | None = path.open("wb")

    def write(self, data: bytes) -> None:
        if self.size + len(data) > self.limit:
            raise TooLarge(self.size + len(data))
        assert self._out is not None
        self.size += len(data)
        self._hash.update(data)
        self._out.write(data)

    def finish(self, last: bytes = b"") -> tuple[Path, str, int]:
        """(path, sha256, size) of the complete upload, on disk."""
        if last:
            self.write(last)
        assert self._out is not None
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        self._out = None
        return self.path, self._hash.hexdigest(), self.size

    def discard(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        self.path.unlink(missing_ok=True)


class AudioStore:
    def __init__(self, root: Path, tmp: Path) -> None:
        self.root, self.tmp = root, tmp
        root.mkdir(parents=True, exist_ok=True)
        tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def incoming(self, limit: int) -> Incoming:
        """A `.part` file for an upload that arrives in pieces (api/calls/upload.py)."""
        return Incoming(self.tmp / f"{uuid.uuid4().hex}.part", limit)

    def commit(self, tmp: Path, sha256: str) -> Path:
        """Move a received file into the store; on return it is on disk (file and folders fsynced)."""
        final = self.path(sha256)
        if final.exists() and final.stat().st_size == tmp.stat().st_size:
            tmp.unlink(missing_ok=True)
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        _fsync_dir(final.parent.parent)
        _fsync_dir(self.root)
        return final

    def delete(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(sha256).unlink()

    # The played rendition of one call, personal numbers bleeped (api/privacy): per call, never shared.
    def masked_path(self, call_id: str) -> Path:
        return self.root / "masked" / call_id[:2] / f"{call_id}.flac"

    def save_masked(self, call_id: str, data: bytes) -> Path:
        """Write the call's bleeped rendition; on return it is on disk (file and folders fsynced)."""
        final = self.masked_path(call_id)
        tmp = self.tmp / f"{uuid.uuid4().hex}.part"
        try:
            with tmp.open("wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        for folder in (final.parent, final.parent.parent, self.root):
            _fsync_dir(folder)
        return final

    def delete_masked(self, call_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.masked_path(call_id).unlink()


def sniff(head: bytes) -> str | None:
    """The audio format from the first bytes; None when it is not a recording format we read."""
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0):
        return "mp3"
    if head[4:8] == b"ftyp":
        return "m4a"
    if head[:5] == b"#!AMR":
        return "amr"
    if head[:16] == bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"):
        return "wma"
    if len(head) > 1 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "aac"
    return None


MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg",
               "m4a": "audio/mp4", "amr": "audio/amr", "wma": "audio/x-ms-wma", "aac": "audio/aac"}
