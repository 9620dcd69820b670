"""Content-addressed audio store: <data_dir>/audio/ab/cd/<sha256>, durable (fsync) before it is acknowledged.

Calls with the same bytes share one file; who holds it is counted in the database
(api.calls.models.StoredAudio), so only the calls service places and removes shared files.
Files being written live in <data_dir>/tmp as `<id>-<pid>@<host>.part`: the writer's name
lets a starting process remove what a killed one left (`clean_orphans`) and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024
PART = ".part"  # a file being written
GONE = ".gone"  # a recording set aside by a delete that has not committed yet: <sha256>.<id>.gone
STALE_PART_S = 24 * 3600.0  # no upload or write sits untouched this long


class TooLarge(Exception):
    pass


def _host() -> str:
    return socket.gethostname()[:100]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _orphan(part: Path) -> bool:
    """Was this .part file left by a process of this machine that no longer runs?

    At a process's start none of the files are its own, so its own pid counts as gone too
    (a container restarted keeps its host name and often its pid). Files named by another
    machine, or before names carried their writer, are judged by age only.
    """
    owner = part.name[:-len(PART)].partition("-")[2]
    pid, _, host = owner.partition("@")
    if host == _host() and pid.isdigit():
        return int(pid) == os.getpid() or not _alive(int(pid))
    try:
        return time.time() - part.stat().st_mtime > STALE_PART_S
    except FileNotFoundError:
        return False


@dataclass
class Cleaned:
    parts: int = 0  # unfinished writes of killed processes, removed
    restored: int = 0  # recordings set aside by a delete that never committed, put back
    discarded: int = 0  # recordings a committed delete set aside, removed


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

    def part_path(self) -> Path:
        """A new temp file name in the store's tmp folder, naming its writer (see `clean_orphans`)."""
        return self.tmp / f"{uuid.uuid4().hex}-{os.getpid()}@{_host()}{PART}"

    def incoming(self, limit: int) -> Incoming:
        """A `.part` file for an upload that arrives in pieces (api/calls/upload.py)."""
        return Incoming(self.part_path(), limit)

    def commit(self, tmp: Path, sha256: str) -> Path:
        """Move a received file into the store; on return it is on disk (file and folders fsynced).

        The caller has counted itself in as a holder first (api.calls.service.keep_audio)."""
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

    def set_aside(self, sha256: str) -> Path | None:
        """Move a recording out of the store, to be removed once its delete commits (`put_back` if it
        does not). Returns where it went; None when it was not stored."""
        aside = self.tmp / f"{sha256}.{uuid.uuid4().hex}{GONE}"
        try:
            os.replace(self.path(sha256), aside)
        except FileNotFoundError:
            return None
        return aside

    def put_back(self, aside: Path, sha256: str) -> None:
        final = self.path(sha256)
        if not final.exists():
            os.replace(aside, final)
            _fsync_dir(final.parent)
        else:  # an upload placed the same bytes again meanwhile
            aside.unlink(missing_ok=True)

    def clean_orphans(self, is_held: Callable[[str], bool]) -> Cleaned:
        """At a process's start: remove the .part files killed processes left, and settle recordings
        that deletes set aside (put back when `is_held(sha256)` says a call still holds them)."""
        done = Cleaned()
        for f in self.tmp.iterdir():
            if f.name.endswith(PART) and _orphan(f):
                f.unlink(missing_ok=True)
                done.parts += 1
            elif f.name.endswith(GONE):
                sha = f.name.split(".", 1)[0]
                if is_held(sha) and not self.path(sha).exists():
                    self.path(sha).parent.mkdir(parents=True, exist_ok=True)
                    self.put_back(f, sha)
                    done.restored += 1
                else:
                    f.unlink(missing_ok=True)
                    done.discarded += 1
        return done

    # The played rendition of one call, personal numbers bleeped (api/privacy): per call, never shared.
    def masked_path(self, call_id: str) -> Path:
        return self.root / "masked" / call_id[:2] / f"{call_id}.flac"

    def save_masked(self, call_id: str, data: bytes) -> Path:
        """Write the call's bleeped rendition; on return it is on disk (file and folders fsynced)."""
        final = self.masked_path(call_id)
        tmp = self.part_path()
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
