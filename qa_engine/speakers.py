"""Which audio belongs to which party.

Stereo recorders put one party on each channel: the agent's side comes from the
call's metadata, left by default. Mono mixes (older recorders) are separated here:
speech is cut into short pieces, each piece gets a voiceprint (CAM++ speaker
embeddings, qa_engine.voiceprint), and the pieces are clustered into two voices
(agglomerative, then spectral where the first does not give two voices: separate).
The agent is the voice whose stretches read as the agent's: the opening script, the
recording notice and the agent's phrases (the rubric's `agent_role` list), and a role
head on the semantic encoder trained on the project's labelled utterances. When the two
clusters are two people (cluster_shape: a fair share each, and far apart or, alike, keeping
their voice inside stretches of speech beyond chance), the voice says who spoke when and the
words of the whole call only name the agent's voice (follow_voices); otherwise each piece
weighs its voice against its words (assign_roles). On both, the parties take turns: a pause
and a question hand over the floor (change_logodds), and on an inbound call the agent answers,
so the first words lean to the agent (opening_logodds). When who said
what stays uncertain, the call is marked for review (`Attribution.review`) and the
uncertain turns carry a low `attribution`, so their words never fail the call on
their own (qa_engine.scoring.scorecard).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sklearn.cluster import AgglomerativeClustering, SpectralClustering

from qa_engine import voiceprint
from qa_engine.asr.models import load_manifest, sha256_of
from qa_engine.asr.text import count_units, join_words
from qa_engine.errors import ModelError
from qa_engine.semantic.encoders import Encoder
from qa_engine.semantic.models import HEADS_DIR, load_encoder
from qa_engine.types import ATTRIBUTION_SURE, SAMPLE_RATE, Direction, Speaker, SpeechRegion, Word

# The longest piece given one voice label. CAM++ needs about a second of speech to tell two
# voices apart, and a change of speaker inside a stretch without a pause must fall between
# pieces: 1.5 s is the usual diarization window (pyannote, 3D-Speaker use 1.5 s).
PIECE_S = 1.5
# Two stereo channels this alike are one signal written twice (dual-mono recorders).
DUAL_MONO_CORRELATION = 0.95
# Neighbours of each piece in the graph the second clustering cuts (scikit-learn's default for SpectralClustering's
# nearest-neighbour affinity); a call of no more pieces than this is clustered once.
SPECTRAL_NEIGHBOURS = 10


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
    embeddings: np.ndarray | None = None  # one voiceprint per segment


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
    """Two-voice segmentation of a mono mix: pieces of speech labelled 0 or 1, by voiceprint.

    Two clusterings, the second only when the first does not give two voices (ClusterShape.two_voices). First,
    agglomerative (average linkage, cosine): it keeps two people apart when they sound far apart, but as it joins the
    nearest pieces first and the odd ones last, with two alike voices its last split is one odd piece or two (a
    cough, a word over the other party) against the rest. Second, spectral: the pieces as a graph, each joined to
    its nearest neighbours, cut in two where the fewest and weakest links cross (a normalised cut, as speaker
    diarization systems cluster): two alike voices whose pieces are each nearest their own kind come apart, and odd
    pieces cannot make a cluster of their own. Either way each piece then goes to the nearer mean voice.
    """
    pieces = _pieces(regions)
    if len(pieces) < 3:
        return Separation([Segment(s, e, 0) for s, e in pieces], 1.0)
    model = model or voiceprint.load()
    emb = model.embed([samples[int(s * SAMPLE_RATE): int(e * SAMPLE_RATE)] for s, e in pieces])
    first = _split_by_voice(pieces, emb, agglomerative_labels(emb))
    if len(pieces) <= SPECTRAL_NEIGHBOURS or cluster_shape(first).two_voices:
        return first
    with warnings.catch_warnings():  # a graph in two parts is two voices already: nothing to warn about
        warnings.simplefilter("ignore", UserWarning)
        labels = SpectralClustering(n_clusters=2, affinity="nearest_neighbors", n_neighbors=SPECTRAL_NEIGHBOURS,
                                    random_state=0).fit_predict(emb)
    second = _split_by_voice(pieces, emb, labels)
    return second if cluster_shape(second).two_voices else first


def agglomerative_labels(emb: np.ndarray) -> np.ndarray:
    """The first clustering of separate: two clusters, average linkage on cosine distance."""
    return AgglomerativeClustering(n_clusters=2, metric="cosine", linkage="average").fit_predict(emb)


def _split_by_voice(pieces: list[tuple[float, float]], emb: np.ndarray, labels: np.ndarray) -> Separation:
    """The pieces given to two voices, starting from `labels`."""
    weight = np.array([e - s for s, e in pieces])
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
    return Separation(segments, float(centroids[0] @ centroids[1]), emb)


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


def stretch_texts(segments: list[Segment], words: list[Word], language: str) -> list[str]:
    """What was said in each stretch of speech (stretches): its words, each placed at its middle, joined as the
    transcript joins them. The one text of a stretch that the role head, the role phrases and the question handover
    all read."""
    if not segments:
        return []
    group = stretches(segments)
    said: list[list[str]] = [[] for _ in range(group[-1] + 1)]
    for w in words:
        said[group[segment_at(segments, (w.start + w.end) / 2)]].append(w.text)
    return [join_words(t, language) for t in said]


# The role head (benchmarks/speakers/train_role_head.py) is trained on this encoder's embeddings.
ROLE_ENCODER = "e5-small-q4"
# A head trained on written utterances is over-sure on recognised speech: its say is capped at
# 9 to 1 (|logit| <= 2.2), and each role phrase of the rubric adds one unit of log-odds.
HEAD_CAP = 0.9
CUE_LOGIT = 1.0
HEAD_MIN_UNITS = 5
# Voice clusters are trusted as far as they agree with what confidently worded stretches say:
# below this agreement the two voices are too alike to tell apart and the call goes to review.
MIN_VOICE_AGREEMENT = 0.75
# CAM++ scores a voice against itself near 0.8 and two people near 0.1 (cosine); a piece less
# than this much nearer its own cluster's voice than the other's is on the fence.
VOICE_SURE = 0.1
VOICE_MIN_S = 1.0
# The agent is named by the words of the two voices: less than this much log-odds between the two
# mappings of voices to parties (two role phrases) does not tell who the agent is.
MIN_ROLE_MARGIN = 2.0
# A call with more than this share of its speech below ATTRIBUTION_SURE goes to review as a whole: an
# inspector reads a transcript with one turn in five in doubt as unreliable.
MAX_UNSURE_SHARE = 0.2


def role_head_path() -> Path:
    entry = (load_manifest().get("speaker") or {}).get("models", {}).get("campplus-cn-en", {})
    return HEADS_DIR / str((entry.get("role_head") or {}).get("file", f"role-{ROLE_ENCODER}.npz"))


_role_lock = threading.Lock()
_role_head: tuple[Encoder, np.ndarray, float] | None = None


def role_logodds(texts: list[str], language: str) -> np.ndarray:
    """Log-odds that each text is the agent's, from its meaning (the role head), capped at HEAD_CAP.

    A text of fewer than HEAD_MIN_UNITS units (好的, 再见, "okay") is said by either party alike: its
    reading weighs by its length."""
    global _role_head
    with _role_lock:
        if _role_head is None:
            path = role_head_path()
            entry = load_manifest()["speaker"]["models"]["campplus-cn-en"]["role_head"]
            got = sha256_of(path) if path.is_file() else "missing"
            if got != entry.get("sha256"):
                raise ModelError(f"role head {path.name} failed its checksum (got {got[:12]}…); retrain it with "
                                 "benchmarks/speakers/train_role_head.py --write")
            with np.load(path) as head:
                coef, intercept = head["coef"], float(head["intercept"])
            encoder, _ = load_encoder(ROLE_ENCODER)
            _role_head = (encoder, coef, intercept)
        encoder, coef, intercept = _role_head
    out = np.zeros(len(texts))
    said = [i for i, t in enumerate(texts) if t.strip()]
    if said:
        cap = float(np.log(HEAD_CAP / (1 - HEAD_CAP)))
        out[said] = np.clip(encoder.encode([texts[i] for i in said]) @ coef + intercept, -cap, cap)
        out[said] *= [min(1.0, count_units(texts[i], language) / HEAD_MIN_UNITS) for i in said]
    return out


def role_cues(text: str, agent_cues: list[str], customer_cues: list[str]) -> float:
    """Positive when a stretch reads like the agent (您, 请问, 为您…), negative like the customer."""
    low = text.lower()
    return float(sum(low.count(c.lower()) for c in agent_cues) - sum(low.count(c.lower()) for c in customer_cues))


# Turn-taking: the parties speak in turns, and who speaks next depends on the pause before. Inside a stretch
# of speech (no pause) a change of party is an interruption: rare (1 in 20). After a pause the prior moves
# with the silence, from 1 to 3 against a change (a breath or phrase pause, well under half a second)
# to 3 to 1 for it (a party who stops for a second has handed over the floor): the silence is the gap
# between the VAD's stretches plus its padding on both sides, and a pause of half a second is neutral.
IN_STRETCH_CHANGE = 0.05
PAUSE_NEUTRAL_S = 0.5
PAUSE_SCALE_S = 0.25
PAUSE_MAX_LOGODDS = float(np.log(3.0))
VAD_PAD_S = 0.15  # qa_engine.vad.VadSettings.speech_pad_ms: each stretch is padded by this on both sides
# A question hands over the floor: the turn after it is its answer, the other party's (question and answer are an
# adjacency pair), unless the asker goes on after the pause (a tag question, a second question). A stretch that ends
# in a question mark (Whisper writes one in both languages) makes a change after it 9 times likelier than the pause
# alone says: 1 in 10 questions followed by a pause kept by the asker.
QUESTION_HANDOVER_LOGODDS = float(np.log(9.0))
QUESTION_MARKS = ("?", "？")


# Who speaks first. On an inbound call the customer dialled and the agent answers: the first stretch of speech is the
# agent's greeting, 9 times in 10 (the tenth: a late answer, where the caller says 喂 / "hello?" into the silence).
# On an outbound call nothing is assumed: a recording may start at the callee's "hello?" or at the agent's first
# words (a dialler connects the agent once the callee has answered), and both are common.
INBOUND_OPENING_LOGODDS = float(np.log(9.0))


def opening_logodds(direction: Direction | None) -> float:
    """Log-odds that the first stretch of speech is the agent's, from who placed the call."""
    return INBOUND_OPENING_LOGODDS if direction == "inbound" else 0.0


# One-sided 95 % (z = 1.645) for the lower end of the voices' agreement with the words.
AGREEMENT_Z = 1.645


def agreement_floor(agreeing: float, n: int) -> float:
    """Wilson lower bound of a share of `agreeing` in `n` (0.5 with no votes: no evidence either way)."""
    if n == 0:
        return 0.5
    share, z2 = agreeing / n, AGREEMENT_Z ** 2
    centre = share + z2 / (2 * n)
    spread = AGREEMENT_Z * np.sqrt(share * (1 - share) / n + z2 / (4 * n * n))
    return float((centre - spread) / (1 + z2 / n))


def change_logodds(segments: list[Segment], texts: list[str] | None = None) -> np.ndarray:
    """Log-odds that the party changes between each segment and the one before (the first: 0).

    `texts`, one per stretch of speech (stretch_texts), adds what was said: after a stretch that ends in a question,
    the answer is likely the other party's."""
    out = np.zeros(len(segments))
    group = stretches(segments)
    asked = [texts is not None and texts[g].rstrip().endswith(QUESTION_MARKS) for g in group]
    for i in range(1, len(segments)):
        gap = segments[i].start - segments[i - 1].end
        if gap < 1e-6:
            out[i] = float(np.log(IN_STRETCH_CHANGE / (1 - IN_STRETCH_CHANGE)))
        else:
            silence = gap + 2 * VAD_PAD_S
            out[i] = PAUSE_MAX_LOGODDS * float(np.clip((silence - PAUSE_NEUTRAL_S) / PAUSE_SCALE_S, -1.0, 1.0))
            out[i] += QUESTION_HANDOVER_LOGODDS if asked[i - 1] else 0.0
    return out


def decode_turns(evidence: np.ndarray, change: np.ndarray) -> np.ndarray:
    """P(agent) of each segment: forward-backward over the two parties in time order.

    `evidence` is each segment's own log-odds for the agent (voice and words), `change` the log-odds that
    the party changes from the segment before; the posterior joins both, so an unclear stretch leans on
    its neighbours and on how the two parties take turns."""
    n = len(evidence)
    if n == 0:
        return np.zeros(0)
    emit = np.stack([evidence / 2, -evidence / 2], axis=1)  # log-likelihood, up to a constant: agent, customer
    p_change = 1.0 / (1.0 + np.exp(-change))
    log_stay, log_move = np.log1p(-p_change + 1e-12), np.log(p_change + 1e-12)
    alpha = np.zeros((n, 2))
    beta = np.zeros((n, 2))
    alpha[0] = emit[0] - np.logaddexp(*emit[0])
    for i in range(1, n):
        prev = alpha[i - 1]
        alpha[i] = emit[i] + np.array([np.logaddexp(prev[0] + log_stay[i], prev[1] + log_move[i]),
                                       np.logaddexp(prev[1] + log_stay[i], prev[0] + log_move[i])])
        alpha[i] -= np.logaddexp(*alpha[i])
    for i in range(n - 2, -1, -1):
        nxt = beta[i + 1] + emit[i + 1]
        beta[i] = np.array([np.logaddexp(nxt[0] + log_stay[i + 1], nxt[1] + log_move[i + 1]),
                            np.logaddexp(nxt[1] + log_stay[i + 1], nxt[0] + log_move[i + 1])])
        beta[i] -= np.logaddexp(*beta[i])
    post = alpha + beta
    return np.clip(1.0 / (1.0 + np.exp(post[:, 1] - post[:, 0])), 1e-9, 1 - 1e-9)


@dataclass
class Attribution:
    roles: list[Speaker]  # one per segment
    confidence: list[float]  # one per segment, 0-1: how sure its party is
    found_by: str  # how the parties were decided, for the inspector
    review: str = ""  # why a person should check who said what ("" when sure)


def stretches(segments: list[Segment]) -> list[int]:
    """The stretch of speech (between two pauses) each segment belongs to: pieces that touch share one."""
    out: list[int] = []
    for i, seg in enumerate(segments):
        out.append(out[-1] if i and abs(seg.start - segments[i - 1].end) < 1e-6 else (out[-1] + 1 if i else 0))
    return out


# Two voice clusters are two people, not one voice cut in two, when (a) the smaller holds a real party's share of
# the speech: in a two-party call each side speaks at least a fifth of the time, where one voice's outlier cluster
# holds a few per cent; (b) each cluster has pieces enough (three: 4.5 s, three pairs) for its voice to be measured;
# and (c) the clusters' pieces sound less alike across than within: CAM++ scores two people near 0.1, and one
# voice as high as the call's own pieces score within their clusters (about 0.6 for 1.5-s pieces, 0.8 for longer
# speech), so the cross-cluster similarity must lie nearer the two-people level than the one-voice level (at least
# half the way down), where a voice cut in two stays near the top. Or, in place of (c), (d) the clusters follow the
# stretches of speech: two pieces that touch (no pause between) are one party but for the rare interruption, so two
# people's clusters keep the voice from piece to piece inside a stretch, where a voice cut in two flips between its
# halves as by chance (p² + q² for shares p and q). The share of touching pairs that keep their voice, at the lower end
# of its one-sided 95 % interval (agreement_floor), must lie above that chance. (d) needs no cosine scale: two alike
# voices (same sex and accent, one telephone line) sit closer than CAM++'s two-people level and fail (c), yet their
# clusters still follow who speaks. But one voice whose clusters split it by how each turn was spoken (louder, faster,
# higher) follows the stretches too, so (d) still asks the clusters to lie a quarter of the way down (half (c)'s
# distance): a split of one voice by delivery stays near the top (measured: one synthetic voice split in balanced
# halves lay 0.09-0.24 of the way down, two alike voices 0.39-0.46; benchmarks/results_mono.md, round 9).
MIN_PARTY_SHARE = 0.2
MIN_CLUSTER_PIECES = 3
TWO_PEOPLE_COSINE = 0.1
MIN_CLUSTER_SEPARATION = 0.5
MIN_FOLLOWING_SEPARATION = MIN_CLUSTER_SEPARATION / 2
# With two well-formed clusters a piece is believed at 19 to 1 for its cluster's party when it is clearly nearer its
# own voice (VOICE_SURE): the 1 in 20 of the turn-taking prior, so one piece alone does not split a stretch but
# two do.
TRUSTED_VOICE_LOGODDS = float(np.log(19.0))


@dataclass(frozen=True)
class ClusterShape:
    """How the two voice clusters of a mono mix are formed."""

    minor_share: float  # the smaller cluster's share of the speech
    within: float  # mean cosine between pieces of one cluster (duration-weighted pairs)
    between: float  # mean cosine between pieces of different clusters
    minor_pieces: int = 0  # pieces in the smaller cluster
    touching_pairs: int = 0  # pairs of pieces with no pause between (inside one stretch of speech)
    pairs_kept: int = 0  # ... of them, the pairs whose two pieces fall in one cluster
    chance_kept: float = 1.0  # the share of such pairs one cluster by chance (p² + q², p and q the clusters' pieces)

    @property
    def follows_speech(self) -> bool:
        """The clusters keep their voice inside stretches of speech beyond chance (95 %, one-sided)."""
        return self.touching_pairs > 0 and agreement_floor(self.pairs_kept, self.touching_pairs) > self.chance_kept

    @property
    def separation(self) -> float:
        """How far down from the one-voice level (within) to the two-people level the cross similarity lies."""
        return (self.within - self.between) / max(self.within - TWO_PEOPLE_COSINE, 1e-9)

    @property
    def two_voices(self) -> bool:
        return (self.minor_share >= MIN_PARTY_SHARE and self.minor_pieces >= MIN_CLUSTER_PIECES
                and (self.separation >= MIN_CLUSTER_SEPARATION
                     or (self.follows_speech and self.separation >= MIN_FOLLOWING_SEPARATION)))


def cluster_shape(separation: Separation) -> ClusterShape:
    segments, emb = separation.segments, separation.embeddings
    if emb is None or len(segments) < 3:
        return ClusterShape(0.0, 1.0, 1.0)
    label = np.array([s.label for s in segments])
    duration = np.array([s.end - s.start for s in segments])
    minor = float(min(duration[label == 0].sum(), duration[label == 1].sum()) / max(duration.sum(), 1e-9))
    pair = np.outer(duration, duration)
    np.fill_diagonal(pair, 0.0)
    same = label[:, None] == label[None, :]
    cosine = emb @ emb.T
    within = float((cosine * pair * same).sum() / max((pair * same).sum(), 1e-9))
    between = float((cosine * pair * ~same).sum() / max((pair * ~same).sum(), 1e-9))
    group = stretches(segments)
    touching = [i for i in range(1, len(segments)) if group[i] == group[i - 1]]
    share = float(label.mean())
    return ClusterShape(minor, within, between, int(min((label == 0).sum(), (label == 1).sum())), len(touching),
                        sum(int(label[i] == label[i - 1]) for i in touching), share * share + (1 - share) ** 2)


def stretch_words(segments: list[Segment], texts: list[str], agent_cues: list[str], customer_cues: list[str],
                  meaning: np.ndarray | None, direction: Direction | None = None) -> tuple[list[int], np.ndarray]:
    """Each segment's stretch, and what says each stretch is the agent's, as log-odds: its words (`texts`, one per
    stretch: role head plus role phrases) and, for the first stretch, who placed the call (opening_logodds)."""
    group = stretches(segments)
    if len(texts) != group[-1] + 1:
        raise ValueError(f"{len(texts)} texts for {group[-1] + 1} stretches of speech: give one text a stretch")
    words = np.zeros(len(texts)) if meaning is None else np.asarray(meaning, dtype=np.float64).copy()
    words += CUE_LOGIT * np.array([role_cues(t, agent_cues, customer_cues) for t in texts])
    # The greeting is the first stretch with words: a click or a breath the VAD kept before it says nothing.
    first_said = next((g for g, t in enumerate(texts) if t), 0)
    words[first_said] += opening_logodds(direction)
    return group, words


def unsure_reason(segments: list[Segment], confidence: list[float]) -> str:
    weight = np.array([s.end - s.start for s in segments])
    unsure = float(weight[np.array(confidence) < ATTRIBUTION_SURE].sum() / max(weight.sum(), 1e-9))
    return f"{unsure:.0%} of the speech could be either party's" if unsure > MAX_UNSURE_SHARE else ""


def unsure_at_cuts(segments: list[Segment], parties: Sequence[object], confidence: list[float]) -> list[float]:
    """`confidence` with the pieces on both sides of a change of party inside a stretch of speech made not sure.

    A change of speaker with no pause between is placed only to the length of a piece: a word near the cut may be
    either party's, and a stretch's words, shared by all its pieces, may then be both parties' words. `parties` is
    any labelling of the pieces (the decoded parties, or the voices): wherever it changes between two pieces that
    touch, the speaker may have changed there, so neither piece is sure.
    """
    out = list(confidence)
    for i in range(1, len(segments)):
        if parties[i] != parties[i - 1] and segments[i].start - segments[i - 1].end < 1e-6:
            out[i - 1] = min(out[i - 1], ATTRIBUTION_SURE / 2)
            out[i] = min(out[i], ATTRIBUTION_SURE / 2)
    return out


def follow_voices(separation: Separation, shape: ClusterShape, group: list[int], words: np.ndarray,
                  texts: list[str]) -> Attribution:
    """Two distinct voices: the voice says who spoke when, and the words of the whole call name the agent's voice.

    The words are weighed once per call: every stretch's log-odds, shared among its pieces, is summed for the
    cluster each piece belongs to; the difference between the clusters is the log-odds that cluster 0 is the
    agent. How sure that naming is bounds how sure any turn can be, so an unsure naming sends the call to review.
    """
    segments = separation.segments
    sign = np.array([1.0 if s.label == 0 else -1.0 for s in segments])  # +1: cluster 0
    pieces_in = np.bincount(group, minlength=len(words))
    naming = float(sum(words[g] / pieces_in[g] * sign[i] for i, g in enumerate(group)))
    naming_sure = float(abs(2.0 / (1.0 + np.exp(-abs(naming))) - 1.0))
    voice_says = sign * (1.0 if naming >= 0 else -1.0)  # +1: the voice is the agent's
    sure_voice = np.array([min(1.0, max(0.0, s.voice_margin) / VOICE_SURE) * min(1.0, (s.end - s.start) / VOICE_MIN_S)
                           for s in segments])
    posterior = decode_turns(voice_says * sure_voice * TRUSTED_VOICE_LOGODDS, change_logodds(segments, texts))
    roles: list[Speaker] = ["agent" if p > 0.5 else "customer" for p in posterior]
    confidence = [min(float(abs(2.0 * p - 1.0)), naming_sure) for p in posterior]
    # As on the decode path: where the voice changes between pieces that touch, the other party may have spoken there
    # (one piece of the other voice inside a stretch: a word over the speaker), even if the decode kept the stretch.
    confidence = unsure_at_cuts(segments, roles, confidence)
    confidence = unsure_at_cuts(segments, [s.label for s in segments], confidence)
    reasons = []
    if naming_sure < ATTRIBUTION_SURE:
        reasons.append(f"the words hardly tell which voice is the agent (margin {abs(naming):.1f})")
    if reason := unsure_reason(segments, confidence):
        reasons.append(reason)
    review = "; ".join(reasons) + ": check who said what" if reasons else ""
    return Attribution(roles, confidence, (
        f"separation by voice (two distinct voices: the smaller holds {shape.minor_share:.0%} of the speech, "
        f"cosine {shape.within:.2f} within the voices, {shape.between:.2f} across; {shape.pairs_kept} of "
        f"{shape.touching_pairs} pieces that touch keep their voice): agent = the voice whose words "
        f"over the call read as the agent's (margin {abs(naming):.1f})"), review)


def assign_roles(separation: Separation, texts: list[str], agent_cues: list[str], customer_cues: list[str],
                 meaning: np.ndarray | None = None, direction: Direction | None = None) -> Attribution:
    """Each segment's party, how sure it is, and how it was decided. `texts`: what each stretch of speech said
    (stretch_texts); `meaning`: the role head's log-odds of each (role_logodds).

    Two well-formed voice clusters (ClusterShape.two_voices) are followed as they are, the words only naming
    which is the agent (follow_voices). Otherwise the voices may be one voice, or two alike:

    Evidence, in log-odds that a piece is the agent's: its words (what the stretch of speech it
    belongs to says: the role head's `meaning` log-odds plus the rubric's role phrases; on an inbound
    call the first stretch also leans to the agent, who answers), and its voice. The voice is the
    nearer of the two parties' voices enrolled from the stretches whose words are clear, or, without
    such stretches on both sides, its cluster (the cluster whose stretches read most like the agent's
    is the agent's); it is weighed by how much nearer it is, and by how often the voice agrees with
    the clearly worded stretches (two alike voices weigh nothing).
    """
    segments = separation.segments
    if not segments:
        return Attribution([], [], "separation (no speech)")
    group, words = stretch_words(segments, texts, agent_cues, customer_cues, meaning, direction)
    shape = cluster_shape(separation)
    if shape.two_voices:
        return _noting_opening(follow_voices(separation, shape, group, words, texts), direction)
    n_groups = len(words)
    # A voiceprint of less than a second of speech says little (CAM++ needs about one): it weighs by its length.
    sure_voice = np.array([min(1.0, max(0.0, s.voice_margin) / VOICE_SURE) * min(1.0, (s.end - s.start) / VOICE_MIN_S)
                           for s in segments])
    sign = np.array([1.0 if s.label == 0 else -1.0 for s in segments])  # +1: cluster 0
    # Which cluster is the agent: the mapping the stretches' words support more.
    support = sum(words[g] * sign[i] * sure_voice[i] for i, g in enumerate(group))
    agent_label = 0 if support >= 0 else 1
    role_margin = abs(support)
    voice_says = sign * (1.0 if agent_label == 0 else -1.0)  # +1: the voice says agent
    duration = np.array([s.end - s.start for s in segments])
    # How often the voice clusters agree with the stretches whose words are clear (|log-odds| >= 1): measured
    # before enrolment, as the enrolled voices are made from those same stretches. One vote per stretch (its
    # pieces are one voice, not independent witnesses), counted for each party apart: a voice separates the
    # parties only if it sorts both (one voice twice agrees with every agent stretch and every customer one
    # alike). The voice is trusted only as far as the votes show it beyond chance: the lower end of the
    # weaker party's one-sided 95 % interval (Wilson), so a few stretches agreeing by luck give it no weight.
    votes: dict[int, list[float]] = {}
    for i, g in enumerate(group):
        if abs(words[g]) >= 1.0 and sure_voice[i] > 0:
            votes.setdefault(g, []).append(float((words[g] > 0) == (voice_says[i] > 0)))
    agreeing = {side: [float(np.mean(v)) for g, v in votes.items() if (words[g] > 0) == side] for side in (True, False)}
    agree = (sum(map(sum, agreeing.values())) + 1) / (len(votes) + 2)
    floor = min(agreement_floor(sum(v), len(v)) for v in agreeing.values())
    voice_weight = max(0.0, float(np.log(max(0.5, floor) / (1 - min(0.99, floor)))))
    # With stretches on both sides whose words are clear, each party's voice is enrolled from them, and
    # every piece goes to the nearer enrolled voice: supervised by the words, steadier than the clusters.
    emb = separation.embeddings
    if emb is not None:
        agent_w = np.array([max(0.0, words[g] - 1.0) for g in group])
        cust_w = np.array([max(0.0, -words[g] - 1.0) for g in group])
        if (agent_w > 0).sum() >= 2 and (cust_w > 0).sum() >= 2:
            enrolled = np.stack([(emb * agent_w[:, None]).sum(0), (emb * cust_w[:, None]).sum(0)])
            enrolled /= np.linalg.norm(enrolled, axis=1, keepdims=True) + 1e-9
            diff = emb @ enrolled[0] - emb @ enrolled[1]
            voice_says = np.sign(diff)
            sure_voice = np.minimum(1.0, np.abs(diff) / VOICE_SURE) * np.minimum(1.0, duration / VOICE_MIN_S)
    # Each piece's own evidence: its voice, and its stretch's words shared among the stretch's pieces (a
    # stretch that keeps one party gets its words' log-odds once, however many pieces it was cut into).
    pieces_in = np.bincount(group, minlength=n_groups)
    evidence = voice_says * sure_voice * voice_weight + words[group] / pieces_in[group]
    posterior = decode_turns(evidence, change_logodds(segments, texts))
    roles: list[Speaker] = ["agent" if p > 0.5 else "customer" for p in posterior]
    confidence = [float(abs(2.0 * p - 1.0)) for p in posterior]
    reasons = []
    if role_margin < MIN_ROLE_MARGIN:
        reasons.append(f"the words hardly tell which voice is the agent (margin {role_margin:.1f})")
        confidence = [min(c, ATTRIBUTION_SURE / 2) for c in confidence]
    # The same rule as on the two-voice path, at every change of party the decode placed inside a stretch, and at
    # every change of voice cluster there: the decode may keep a stretch on one party by its words (shared by all its
    # pieces) while the voice says the other party took over without a pause (talking over).
    confidence = unsure_at_cuts(segments, roles, confidence)
    confidence = unsure_at_cuts(segments, [s.label for s in segments], confidence)
    if agree < MIN_VOICE_AGREEMENT:
        reasons.append(f"the two voices are too alike (only {agree:.0%} of clearly worded stretches agree with "
                       "their voice)")
    if reason := unsure_reason(segments, confidence):
        reasons.append(reason)
    review = "; ".join(reasons) + ": check who said what" if reasons else ""
    how = "voice and words" if voice_weight > 0 else "words (voices too alike)"
    return _noting_opening(Attribution(roles, confidence, (f"separation by {how}: agent = the voice whose words "
                                                           f"read as the agent's; {agree:.0%} of clearly worded "
                                                           "stretches agree with their voice"), review), direction)


def _noting_opening(found: Attribution, direction: Direction | None) -> Attribution:
    """`found` telling the inspector that who placed the call was weighed (opening_logodds)."""
    if not opening_logodds(direction):
        return found
    return replace(found, found_by=f"{found.found_by}; an inbound call: the first words lean to the agent, who answers")
