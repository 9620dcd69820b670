"""Decode any recording into float32 channels at 16 kHz, with errors a user can read.

PyAV (FFmpeg) reads every container and codec a call recorder writes: WAV with PCM
at any rate and width, 32-bit float, G.711 mu-law / A-law, MP3, FLAC, OGG/Opus, M4A.
Channels are kept apart, because stereo recorders put one party on each side.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from qa_engine.errors import AudioError
from qa_engine.paths import check_input_file
from qa_engine.types import SAMPLE_RATE

DEFAULT_MAX_DURATION_S = 3 * 3600.0
# Below this peak level (dBFS) on every channel a recording holds no usable sound.
SILENT_PEAK_DBFS = -65.0


@dataclass
class DecodedAudio:
    channels: np.ndarray  # shape (n_channels, n_samples), float32 in [-1, 1], at `rate`
    source_rate: int
    source_channels: int
    codec: str
    container: str
    rate: int = SAMPLE_RATE

    @property
    def duration(self) -> float:
        return self.channels.shape[1] / self.rate


def decode(path: str | Path, max_duration_s: float = DEFAULT_MAX_DURATION_S,
           source_rate: bool = False) -> DecodedAudio:
    """Read `path` into separate channels at SAMPLE_RATE (at most two: one per party);
    `source_rate`: at the recording's own rate instead (to write a copy of it)."""
    path = Path(path)
    check_input_file(path)
    size = path.stat().st_size
    if size == 0:
        raise AudioError(f"{path.name}: the file is empty (0 bytes); send the recording again")
    _check_wav_header(path, size)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise AudioError(f"{path.name}: not a recording this service can read ({_why(exc)})") from exc
    with container:
        streams = container.streams.audio
        if not streams:
            raise AudioError(f"{path.name}: the file has no audio stream (is it a recording?)")
        stream = streams[0]
        declared = _declared_duration(container, stream)
        if declared is not None and declared > max_duration_s:
            raise AudioError(
                f"{path.name}: the recording is {declared / 60:.0f} min long, over the limit of "
                f"{max_duration_s / 60:.0f} min; split it or raise the limit"
            )
        n_src = stream.codec_context.channels or 1
        layout = "mono" if n_src == 1 else "stereo"
        out_rate = (stream.codec_context.sample_rate or SAMPLE_RATE) if source_rate else SAMPLE_RATE
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=out_rate)
        parts: list[np.ndarray] = []
        total = 0
        limit = int(max_duration_s * out_rate)
        try:
            for frame in container.decode(stream):
                frame.pts = None
                for out in resampler.resample(frame):
                    arr = out.to_ndarray()
                    parts.append(arr)
                    total += arr.shape[1]
                if total > limit:
                    raise AudioError(
                        f"{path.name}: the recording runs over the limit of {max_duration_s / 60:.0f} min; "
                        "split it or raise the limit"
                    )
            for out in resampler.resample(None):
                parts.append(out.to_ndarray())
        except (av.error.FFmpegError, ValueError) as exc:
            if not parts:
                raise AudioError(f"{path.name}: the audio data is corrupt ({_why(exc)})") from exc
            raise AudioError(
                f"{path.name}: the audio data is corrupt after {total / out_rate:.1f} s ({_why(exc)})"
            ) from exc
        codec = stream.codec_context.name
        rate = stream.codec_context.sample_rate or SAMPLE_RATE
        fmt = container.format.name
    if not parts:
        raise AudioError(f"{path.name}: the file holds no audio samples")
    channels = np.concatenate(parts, axis=1).astype(np.float32)
    if channels.shape[1] < out_rate // 2:
        raise AudioError(
            f"{path.name}: the recording is only {channels.shape[1] / out_rate:.2f} s long; "
            "nothing to analyse"
        )
    peak = float(np.max(np.abs(channels))) if channels.size else 0.0
    if peak <= 10 ** (SILENT_PEAK_DBFS / 20):
        raise AudioError(f"{path.name}: the recording is silent (peak below {SILENT_PEAK_DBFS:.0f} dBFS)")
    return DecodedAudio(channels=channels, source_rate=int(rate), source_channels=int(n_src),
                        codec=codec, container=fmt, rate=out_rate)


@dataclass(frozen=True)
class AudioInfo:
    """What a recording's header says about it, read without decoding it (`probe`)."""

    container: str
    codec: str
    sample_rate: int
    channels: int
    duration_s: float  # declared by the header (or estimated by FFmpeg from the bit rate)


# How much of the recording `probe` decodes: enough to know the codec really reads it.
PROBE_DECODE_S = 1.0
MIN_DURATION_S = 0.5


def probe(path: str | Path, max_duration_s: float = DEFAULT_MAX_DURATION_S) -> AudioInfo:
    """Check a recording cheaply: container, codec, rate, channels and length from its header, and (but for
    PCM and G.711 WAV, whose header says it all) its first second decoded. Bounded work whatever the file's
    length (FFmpeg reads a few MB at most to probe); `decode` still does the full read, and the silence
    check, later."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise AudioError(f"{path.name}: the file is empty (0 bytes); send the recording again")
    _check_wav_header(path, size)
    info = _pcm_wav_info(path, size)
    if info is None:
        info = _probe_with_ffmpeg(path)
    if info.duration_s > max_duration_s:
        raise AudioError(f"{path.name}: the recording is {info.duration_s / 60:.0f} min long, over the limit of "
                         f"{max_duration_s / 60:.0f} min; split it or raise the limit")
    if info.duration_s < MIN_DURATION_S:
        raise AudioError(f"{path.name}: the recording is only {info.duration_s:.2f} s long; nothing to analyse")
    return info


# WAVE format tags whose samples are read as they are (any bytes are samples): the header says it all.
_WAV_CODECS = {(1, 8): "pcm_u8", (1, 16): "pcm_s16le", (1, 24): "pcm_s24le", (1, 32): "pcm_s32le",
               (3, 32): "pcm_f32le", (3, 64): "pcm_f64le", (6, 8): "pcm_alaw", (7, 8): "pcm_mulaw"}


def _pcm_wav_info(path: Path, size: int) -> AudioInfo | None:
    """A PCM / G.711 WAV read from its fmt and data chunks alone; None for anything else (FFmpeg probes it)."""
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos, fmt = 12, None
        while pos + 8 <= size:
            fh.seek(pos)
            cid, clen = struct.unpack("<4sI", fh.read(8))
            if cid == b"fmt " and clen >= 16:
                fmt = struct.unpack("<HHIIHH", fh.read(16))
                if fmt[0] == 0xFFFE and clen >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag opens the sub-format
                    fh.seek(pos + 8 + 24)
                    fmt = (struct.unpack("<H", fh.read(2))[0], *fmt[1:])
            elif cid == b"data":
                if fmt is None:
                    return None
                tag, channels, rate, _, block, bits = fmt
                codec = _WAV_CODECS.get((tag, bits))
                if codec is None or channels < 1 or rate < 1 or block != channels * bits // 8:
                    return None
                have = size - (pos + 8)
                frames = (have if clen in (0, 0xFFFFFFFF) else min(clen, have)) // block
                return AudioInfo(container="wav", codec=codec, sample_rate=rate, channels=channels,
                                 duration_s=frames / rate)
            pos += 8 + clen + (clen & 1)
    return None


def _probe_with_ffmpeg(path: Path) -> AudioInfo:
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise AudioError(f"{path.name}: not a recording this service can read ({_why(exc)})") from exc
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path.name}: the file has no audio stream (is it a recording?)")
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        rate, channels = int(ctx.sample_rate or 0), int(ctx.channels or 0)
        if rate <= 0 or channels <= 0:
            raise AudioError(f"{path.name}: the header gives no sample rate or channel count (corrupt header)")
        declared = _declared_duration(container, stream)
        if declared is None:
            raise AudioError(f"{path.name}: the header gives no length; send a complete recording "
                             "(WAV, FLAC, MP3, OGG, M4A)")
        decoded = 0.0
        try:
            for frame in container.decode(stream):
                decoded += frame.samples / (frame.sample_rate or rate)
                if decoded >= PROBE_DECODE_S:
                    break
        except (av.error.FFmpegError, ValueError) as exc:
            raise AudioError(f"{path.name}: the audio data is corrupt ({_why(exc)})") from exc
        if decoded == 0.0:
            raise AudioError(f"{path.name}: the file holds no audio samples")
        return AudioInfo(container=container.format.name, codec=ctx.name, sample_rate=rate, channels=channels,
                         duration_s=declared)


def _why(exc: Exception) -> str:
    # FFmpeg messages carry the path and errno; keep the human part only.
    msg = getattr(exc, "strerror", None) or str(exc)
    return str(msg).split(":")[-1].strip() or type(exc).__name__


def _declared_duration(container: av.container.InputContainer, stream: av.audio.AudioStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _check_wav_header(path: Path, size: int) -> None:
    """A RIFF/WAVE file whose data chunk is shorter than its header says was cut off."""
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return
        if head[:4] == b"RF64":
            return  # sizes live in the ds64 chunk; FFmpeg checks those
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk = fh.read(8)
            if len(chunk) < 8:
                break
            cid, clen = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                # 0 and 0xFFFFFFFF mark a file whose recorder never came back to fill in the size.
                if clen in (0, 0xFFFFFFFF):
                    return
                have = size - (pos + 8)
                if have < clen:
                    raise AudioError(
                        f"{path.name}: the WAV file is truncated: its header declares {clen} bytes of "
                        f"audio but only {have} are present; send the complete recording"
                    )
                return
            pos += 8 + clen + (clen & 1)
        raise AudioError(f"{path.name}: the WAV file has no audio data chunk (truncated or corrupt)")
