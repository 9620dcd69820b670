"""Decoding every recording format a call recorder writes, and refusing bad input clearly."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from qa_engine.audio import decode, probe
from qa_engine.errors import AudioError
from qa_engine.metrics.loudness import dbfs

SOURCE_S = 6.0  # the first 6 s of a stereo call: only the agent (left) speaks, from 1.0 s


@pytest.fixture(scope="module")
def source(call_path) -> tuple[np.ndarray, int]:
    data, sr = sf.read(call_path("zh_interrupting_agent"), dtype="float32", frames=int(SOURCE_S * 8000))
    assert data.ndim == 2 and data.shape[1] == 2
    return np.ascontiguousarray(data.T), sr


def _encode(path: Path, data: np.ndarray, sr: int, codec: str, rate: int, fmt: str | None = None) -> Path:
    layout = "stereo" if data.shape[0] == 2 else "mono"
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(data, format="fltp", layout=layout)
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


FORMATS = [
    ("pcm8k.wav", "pcm_s16le", 8000, "pcm_s16le"),
    ("pcm16k.wav", "pcm_s16le", 16000, "pcm_s16le"),
    ("pcm24k.wav", "pcm_s16le", 24000, "pcm_s16le"),
    ("pcm48k.wav", "pcm_s16le", 48000, "pcm_s16le"),
    ("pcm24bit.wav", "pcm_s24le", 16000, "pcm_s24le"),
    ("float32.wav", "pcm_f32le", 16000, "pcm_f32le"),
    ("ulaw.wav", "pcm_mulaw", 8000, "pcm_mulaw"),
    ("alaw.wav", "pcm_alaw", 8000, "pcm_alaw"),
    ("call.mp3", "libmp3lame", 16000, "mp3"),
    ("call.flac", "flac", 16000, "flac"),
    ("call.ogg", "libopus", 48000, "opus"),
    ("call.m4a", "aac", 16000, "aac"),
]


@pytest.mark.parametrize(("name", "codec", "rate", "codec_seen"), FORMATS, ids=[f[0] for f in FORMATS])
def test_every_recorder_format_decodes_with_duration_and_channels(tmp_path, source, name, codec, rate,
                                                                    codec_seen):
    data, sr = source
    path = _encode(tmp_path / name, data, sr, codec, rate)
    audio = decode(path)
    assert audio.source_channels == 2
    assert audio.channels.shape[0] == 2, "stereo parties must stay on separate channels"
    assert audio.duration == pytest.approx(SOURCE_S, abs=0.1)
    assert audio.source_rate == rate
    assert codec_seen in audio.codec
    # The agent (left) speaks, the customer (right) is silent: the sides are not swapped or mixed.
    speech = slice(int(1.2 * 16000), int(5.8 * 16000))
    assert dbfs(audio.channels[0][speech]) > dbfs(audio.channels[1][speech]) + 15


@pytest.mark.parametrize(("name", "codec", "rate", "codec_seen"), FORMATS, ids=[f[0] for f in FORMATS])
def test_the_probe_reads_every_recorder_format_from_its_header(tmp_path, source, name, codec, rate, codec_seen):
    data, sr = source
    path = _encode(tmp_path / name, data, sr, codec, rate)
    info = probe(path)
    assert (info.sample_rate, info.channels) == (rate, 2) and codec_seen in info.codec
    assert info.duration_s == pytest.approx(SOURCE_S, abs=0.1)
    assert info.duration_s == pytest.approx(decode(path).duration, abs=0.05)


def test_the_probe_refuses_by_the_header_without_decoding(tmp_path, source):
    data, sr = source
    path = _encode(tmp_path / "call.wav", data, sr, "pcm_s16le", 8000)
    with pytest.raises(AudioError, match="over the limit of 0 min"):
        probe(path, max_duration_s=5.0)
    raw = path.read_bytes()
    (tmp_path / "cut.wav").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(AudioError, match="truncated"):
        probe(tmp_path / "cut.wav")
    sf.write(tmp_path / "short.wav", data.T[:800], 8000, subtype="PCM_16")  # 0.1 s
    with pytest.raises(AudioError, match=r"only 0\.10 s long"):
        probe(tmp_path / "short.wav")


def test_mono_file_decodes_to_one_channel(tmp_path, source):
    data, sr = source
    path = _encode(tmp_path / "mono.wav", np.ascontiguousarray(data[:1]), sr, "pcm_s16le", 8000)
    audio = decode(path)
    assert audio.channels.shape[0] == 1 and audio.source_channels == 1
    assert audio.duration == pytest.approx(SOURCE_S, abs=0.05)


def test_real_flac_and_mulaw_fixtures_decode(call_path):
    ulaw = decode(call_path("zh_ulaw_forbidden"))
    assert ulaw.codec == "pcm_mulaw" and ulaw.source_rate == 8000 and ulaw.channels.shape[0] == 2


# --- bad input -------------------------------------------------------------------------------

def _png_bytes() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 16 for _ in range(16))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _bad_files(tmp_path: Path, call_wav: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, regex the error message must match)."""
    out: dict[str, tuple[Path, str]] = {}
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    out["empty"] = (empty, r"empty \(0 bytes\)")
    whole = call_wav.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: len(whole) // 3])
    out["truncated"] = (cut, r"truncated")
    png = tmp_path / "picture.wav"
    png.write_bytes(_png_bytes())
    out["png_renamed"] = (png, r"not a recording|no audio")
    rnd = tmp_path / "random.wav"
    rnd.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    out["random_bytes"] = (rnd, r"not a recording|no audio|corrupt")
    txt = tmp_path / "notes.mp3"
    txt.write_text("call notes: customer asked about the bill\n" * 50, encoding="utf-8")
    out["text_file"] = (txt, r"not a recording|no audio|corrupt")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros((8000 * 5, 2), dtype=np.int16), 8000, subtype="PCM_16")
    out["silent"] = (silent, r"silent")
    tiny = tmp_path / "tiny.wav"
    sf.write(tiny, np.full(800, 0.3, dtype=np.float32), 8000, subtype="PCM_16")
    out["too_short"] = (tiny, r"only 0\.\d+ s long")
    return out


BAD = ["empty", "truncated", "png_renamed", "random_bytes", "text_file", "silent", "too_short"]


@pytest.mark.parametrize("kind", BAD)
def test_bad_input_raises_audio_error_naming_the_problem(tmp_path, call_path, kind):
    path, pattern = _bad_files(tmp_path, call_path("zh_interrupting_agent"))[kind]
    with pytest.raises(AudioError, match=pattern) as info:
        decode(path)
    assert path.name in str(info.value), "the message names the file"


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="file not found"):
        decode(tmp_path / "nope.wav")


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(AudioError, match="not a file"):
        decode(tmp_path)


def test_over_long_recording_is_refused_with_the_limit(call_path):
    with pytest.raises(AudioError, match=r"over the limit") as info:
        decode(call_path("zh_interrupting_agent"), max_duration_s=10.0)
    assert "zh_interrupting_agent.wav" in str(info.value)


def test_recording_under_the_limit_is_accepted(call_path):
    audio = decode(call_path("zh_interrupting_agent"), max_duration_s=60.0)
    assert audio.duration == pytest.approx(28.5, abs=0.05)
