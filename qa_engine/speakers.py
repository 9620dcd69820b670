"""Which audio belongs to which party.

Stereo recorders put one party on each channel: the agent's side comes from the
call's metadata, left by default. Mono mixes (older recorders) are separated here
by clustering the voice of short speech windows into two speakers (timbre from
MFCCs plus the median pitch), and the agent is the speaker who says the opening
script and the polite agent phrases, and who answers the call.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
from sklearn.cluster import KMeans

from qa_engine.asr.text import join_words
from qa_engine.metrics.pitch import yin
from qa_engine.types import SAMPLE_RATE, Speaker, SpeechRegion, Word

UNIT_MAX_S = 3.0
# Two stereo channels this alike are one signal written twice (dual-mono recorders).
DUAL_MONO_CORRELATION = 0.95


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    label: int


def is_dual_mono(channels: np.ndarray) -> bool:
    if channels.shape[0] < 2:
        return True
    a, b = channels[0], channels[1]
    if float(np.std(b)) < 1e-6 or float(np.std(a)) < 1e-6:
        return False  # one side silent is still a stereo call (the other party may be absent)
    return float(np.corrcoef(a, b)[0, 1]) > DUAL_MONO_CORRELATION


def channel_of(agent_channel: str | int | None) -> tuple[int, str]:
    """Metadata 'left'/'right'/0/1 -> channel index and how it was decided."""
    if agent_channel is None:
        return 0, "default (left channel)"
    if isinstance(agent_channel, str):
        key = agent_channel.strip().lower()
        if key in ("left", "l", "0"):
            return 0, "metadata (left channel)"
        if key in ("right", "r", "1"):
            return 1, "metadata (right channel)"
        raise ValueError(f"agent channel must be left or right, not {agent_channel!r}")
    if agent_channel in (0, 1):
        return int(agent_channel), f"metadata (channel {agent_channel})"
    raise ValueError(f"agent channel must be 0 (left) or 1 (right), not {agent_channel!r}")


def separate(samples: np.ndarray, regions: list[SpeechRegion]) -> list[Segment]:
    """Two-speaker segmentation of a mono mix: contiguous segments labelled 0 or 1.

    The unit is a stretch of speech between pauses (split further when longer than
    UNIT_MAX_S): in a phone call the parties mostly take turns with a pause between,
    and a voice averaged over a whole stretch is far steadier than over a short window.
    """
    units: list[tuple[float, float]] = []
    for r in regions:
        n = max(1, int(np.ceil(r.duration / UNIT_MAX_S)))
        step = r.duration / n
        units += [(r.start + i * step, r.start + (i + 1) * step) for i in range(n)]
    if len(units) < 3:
        return [Segment(s, e, 0) for s, e in units]
    timbre, pitch = zip(*(_voice_features(samples, s, e) for s, e in units), strict=True)
    t = np.stack(timbre)
    p = np.array(pitch, dtype=np.float64)
    p = np.where(np.isnan(p), np.nanmedian(p) if np.isfinite(p).any() else 0.0, p)
    feats = np.hstack([_z(t), _z(p[:, None])])
    labels = KMeans(n_clusters=2, n_init=10, random_state=0).fit_predict(feats)
    return [Segment(s, e, int(lab)) for (s, e), lab in zip(units, labels, strict=True)]


def _z(a: np.ndarray) -> np.ndarray:
    return (a - a.mean(axis=0)) / (a.std(axis=0) + 1e-6)


def _voice_features(samples: np.ndarray, start: float, end: float) -> tuple[np.ndarray, float]:
    """Timbre (mean MFCC 1-19; c0 is loudness, not voice) and the log median pitch."""
    y = samples[int(start * SAMPLE_RATE): int(end * SAMPLE_RATE)]
    mfcc = librosa.feature.mfcc(y=y, sr=SAMPLE_RATE, n_mfcc=20, n_fft=512, hop_length=160, n_mels=40)
    f0, _ = yin(y)
    voiced = f0[np.isfinite(f0)]
    return mfcc[1:].mean(axis=1), float(np.log(np.median(voiced))) if voiced.size > 5 else float("nan")


def segments_to_regions(segments: list[Segment]) -> dict[int, list[SpeechRegion]]:
    out: dict[int, list[SpeechRegion]] = {0: [], 1: []}
    for s in segments:
        out[s.label].append(SpeechRegion(s.start, s.end))
    return out


def segment_at(segments: list[Segment], t: float) -> int:
    """Index of the segment holding time t (or the nearest one)."""
    return min(range(len(segments)),
               key=lambda i: 0.0 if segments[i].start <= t <= segments[i].end
               else min(abs(segments[i].start - t), abs(segments[i].end - t)))


def segment_texts(segments: list[Segment], words: list[Word], language: str) -> list[str]:
    texts: list[list[str]] = [[] for _ in segments]
    for w in words:
        if segments:
            texts[segment_at(segments, (w.start + w.end) / 2)].append(w.text)
    return [join_words(t, language) for t in texts]


def role_cues(text: str, agent_cues: list[str], customer_cues: list[str]) -> float:
    """Positive when a stretch reads like the agent (您, 请问, 为您…), negative like the customer."""
    low = text.lower()
    return float(sum(low.count(c.lower()) for c in agent_cues) - sum(low.count(c.lower()) for c in customer_cues))


# Voice clusters are trusted when what each stretch says agrees with its cluster's role
# this often; below it the two voices are too alike to tell apart.
MIN_VOICE_AGREEMENT = 0.75


def roles_by_voice(segments: list[Segment], texts: list[str], agent_cues: list[str],
                   customer_cues: list[str]) -> tuple[list[Speaker], str]:
    """Each segment's party, and how it was decided.

    The voice cluster whose words read most like the agent's is the agent. When the
    words of many stretches contradict their cluster (two similar voices), each stretch
    is given the party its own words point to, and a stretch without cues stays with
    the party of the stretch before it (a party's turn often spans several stretches).
    """
    cues = [role_cues(t, agent_cues, customer_cues) for t in texts]
    score = {lab: sum(c for c, s in zip(cues, segments, strict=True) if s.label == lab) for lab in (0, 1)}
    agent_label = 0 if score[0] >= score[1] else 1
    voice: list[Speaker] = ["agent" if s.label == agent_label else "customer" for s in segments]
    judged = [(c, r) for c, r in zip(cues, voice, strict=True) if c != 0]
    agree = sum(1 for c, r in judged if (c > 0) == (r == "agent")) / len(judged) if judged else 1.0
    if len(judged) < 4 or agree >= MIN_VOICE_AGREEMENT:
        return voice, (f"separation by voice (agent = the voice whose words read as the agent's; "
                       f"{agree:.0%} of stretches with role cues agree)")
    roles: list[Speaker] = []
    for i, c in enumerate(cues):
        if c > 0:
            roles.append("agent")
        elif c < 0:
            roles.append("customer")
        elif roles:
            roles.append(roles[-1])
        else:
            nxt = next((x for x in cues[i + 1:] if x != 0), 1.0)
            roles.append("agent" if nxt > 0 else "customer")
    return roles, (f"separation by words (voices too alike: only {agree:.0%} of stretches agreed with "
                   "their voice cluster)")
