"""Which audio belongs to which party.

Stereo recorders put one party on each channel: the agent's side comes from the
call's metadata, left by default. Mono mixes (older recorders) are separated here:
speech is cut into short pieces, each piece gets a voiceprint (CAM++ speaker
embeddings, qa_engine.voiceprint), and the pieces are clustered into two voices.
The agent is the voice that says the opening script, the recording notice and the
agent's phrases (the rubric's `agent_role` list); where a piece's own words
contradict its voice and the voice is unsure, the words decide. When who said
what stays uncertain, the call is marked for review (`Attribution.review`) and the
uncertain turns carry a low `attribution`, so their words never fail the call on
their own (qa_engine.scoring.scorecard).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import AgglomerativeClustering

from qa_engine import voiceprint
from qa_engine.asr.text import join_words
from qa_engine.types import ATTRIBUTION_SURE, SAMPLE_RATE, Speaker, SpeechRegion, Word

# The longest piece given one voice label. CAM++ needs about a second of speech to tell two
# voices apart, and a change of speaker inside a stretch without a pause must fall between
# pieces: 1.5 s is the usual diarization window (pyannote, 3D-Speaker use 1.5 s).
PIECE_S = 1.5
# Two stereo channels this alike are one signal written twice (dual-mono recorders).
DUAL_MONO_CORRELATION = 0.95


@dataclass(frozen=True)
class Segment:
    """A stretch of a mono mix given to one voice cluster (0 or 1)."""

    start: float
    end: float
    label: int
    # Cosine to its own cluster's voice minus to the other's: near 0 the stretch could be either voice.
    voice_margin: float = 1.0


@dataclass
class Separation:
    segments: list[Segment]
    # Cosine between the two clusters' mean voices: near 1 they are one voice (or two very alike).
    voice_similarity: float


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


def separate(samples: np.ndarray, regions: list[SpeechRegion],
             model: voiceprint.VoiceprintModel | None = None) -> Separation:
    """Two-voice segmentation of a mono mix: pieces of speech labelled 0 or 1, by voiceprint."""
    pieces = _pieces(regions)
    if len(pieces) < 3:
        return Separation([Segment(s, e, 0) for s, e in pieces], 1.0)
    model = model or voiceprint.load()
    emb = model.embed([samples[int(s * SAMPLE_RATE): int(e * SAMPLE_RATE)] for s, e in pieces])
    weight = np.array([e - s for s, e in pieces])
    labels = AgglomerativeClustering(n_clusters=2, metric="cosine", linkage="average").fit_predict(emb)
    for _ in range(10):  # the clusters' mean voices, each piece to the nearer (a spherical k-means)
        centroids = _centroids(emb, labels, weight)
        new = np.argmax(emb @ centroids.T, axis=1)
        if len(set(new.tolist())) < 2 or (new == labels).all():
            break
        labels = new
    centroids = _centroids(emb, labels, weight)
    sims = emb @ centroids.T
    segments = [Segment(s, e, int(lab), float(sims[i, lab] - sims[i, 1 - lab]))
                for i, ((s, e), lab) in enumerate(zip(pieces, labels, strict=True))]
    return Separation(segments, float(centroids[0] @ centroids[1]))


def _pieces(regions: list[SpeechRegion]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for r in regions:
        n = max(1, int(np.ceil(r.duration / PIECE_S)))
        step = r.duration / n
        out += [(r.start + i * step, r.start + (i + 1) * step) for i in range(n)]
    return out


def _centroids(emb: np.ndarray, labels: np.ndarray, weight: np.ndarray) -> np.ndarray:
    out = np.stack([(emb[labels == k] * weight[labels == k, None]).sum(axis=0) for k in (0, 1)])
    return out / (np.linalg.norm(out, axis=1, keepdims=True) + 1e-9)


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
# CAM++ scores a voice against itself near 0.8 and two people near 0.1 (cosine); a piece less
# than this much nearer its own cluster's voice than the other's is on the fence.
VOICE_SURE = 0.1
# The agent is named by the words of the two voices: fewer role phrases than this between them
# (one "您" against none) does not tell who the agent is.
MIN_ROLE_MARGIN = 2.0


@dataclass
class Attribution:
    roles: list[Speaker]  # one per segment
    confidence: list[float]  # one per segment, 0-1: how sure its party is
    found_by: str  # how the parties were decided, for the inspector
    review: str = ""  # why a person should check who said what ("" when sure)


def assign_roles(separation: Separation, texts: list[str], agent_cues: list[str],
                 customer_cues: list[str]) -> Attribution:
    """Each segment's party, how sure it is, and how it was decided.

    The voice cluster whose words read most like the agent's is the agent. A piece whose own
    words point the other way while its voice is on the fence goes by its words. When the
    words of many stretches contradict their cluster (two similar voices), each stretch is
    given the party its own words point to, and a stretch without cues stays with the party
    of the stretch before it (a party's turn often spans several stretches); the call goes to review.
    """
    segments = separation.segments
    cues = [role_cues(t, agent_cues, customer_cues) for t in texts]
    score = {lab: sum(c for c, s in zip(cues, segments, strict=True) if s.label == lab) for lab in (0, 1)}
    agent_label = 0 if score[0] >= score[1] else 1
    role_margin = abs(score[0] - score[1])
    voice: list[Speaker] = ["agent" if s.label == agent_label else "customer" for s in segments]
    judged = [(c, r) for c, r in zip(cues, voice, strict=True) if c != 0]
    agree = sum(1 for c, r in judged if (c > 0) == (r == "agent")) / len(judged) if judged else 1.0
    review = ""
    if role_margin < MIN_ROLE_MARGIN:
        review = (f"the agent is not clear from the words ({role_margin:.0f} role phrase(s) between the two "
                  "voices): check who is the agent")
    if len(judged) < 4 or agree >= MIN_VOICE_AGREEMENT:
        roles, conf = [], []
        for seg, c, r in zip(segments, cues, voice, strict=True):
            sure_voice = min(1.0, max(0.0, seg.voice_margin) / VOICE_SURE)
            says: Speaker | None = "agent" if c > 0 else "customer" if c < 0 else None
            if says is not None and says != r and sure_voice < 1.0:
                roles.append(says)  # the words outweigh a voice on the fence
                conf.append(min(1.0, abs(c) / MIN_ROLE_MARGIN) * (1.0 - sure_voice) * 0.9)
            else:
                roles.append(r)
                conf.append(1.0 if says == r else sure_voice * (0.5 if says is not None else 1.0))
        if role_margin < MIN_ROLE_MARGIN:
            conf = [min(c, ATTRIBUTION_SURE / 2) for c in conf]
        return Attribution(roles, conf, (f"separation by voice (agent = the voice whose words read as the "
                                         f"agent's; {agree:.0%} of stretches with role cues agree)"), review)
    roles = []
    conf = []
    for i, c in enumerate(cues):
        if c != 0:
            roles.append("agent" if c > 0 else "customer")
            conf.append(min(1.0, abs(c) / MIN_ROLE_MARGIN) * ATTRIBUTION_SURE)
        elif roles:
            roles.append(roles[-1])
            conf.append(0.0)
        else:
            nxt = next((x for x in cues[i + 1:] if x != 0), 1.0)
            roles.append("agent" if nxt > 0 else "customer")
            conf.append(0.0)
    review = review or (f"the two voices are too alike (only {agree:.0%} of stretches agreed with their voice): "
                        "parties were given by the words; check who said what")
    return Attribution(roles, conf, (f"separation by words (voices too alike: only {agree:.0%} of stretches "
                                     "agreed with their voice cluster)"), review)
