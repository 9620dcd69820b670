#!/usr/bin/env python3
"""Render English held-out calls with /work/shared/tools/callsynth.py, each party in its OWN espeak-ng voice.

callsynth speaks every English turn in one voice (`-v en-us`), so on its mixes a voiceprint cannot tell
the parties apart. A scenario may name a voice per party (`"voices": {"agent": "en-us+Annie",
"customer": "en-gb+Andy"}`): this wrapper loads callsynth, swaps the voice per turn (the turn's text
says whose it is), and writes the labels with numpy floats as plain floats (callsynth's json.dumps
fails on them under numpy 2). Everything else (placement, gaps, noise, mono mix) is callsynth's own.

    PYTHONHASHSEED=0 python benchmarks/speakers/synth_two_voices.py SCENARIOS.json --out DIR
"""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

CALLSYNTH = Path("/work/shared/tools/callsynth.py")


def main(argv: list[str]) -> int:
    spec = importlib.util.spec_from_file_location("callsynth", CALLSYNTH)
    assert spec is not None and spec.loader is not None
    synth_mod: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth_mod)
    synth_mod.json.dumps = partial(json.dumps, default=float)
    voice_of_text: dict[str, str] = {}
    original_synth = synth_mod.synth

    def synth(scenario: dict, out: Path, voices: dict, default_rate: int) -> dict:
        voice_of_text.clear()
        for turn in scenario["turns"]:
            if "text" in turn:
                voice_of_text[turn["text"]] = scenario.get("voices", {}).get(turn["speaker"], "en-us")
        return original_synth(scenario, out, voices, default_rate)

    original_run = synth_mod.subprocess.run

    def run(cmd: list[str], **kwargs: Any) -> Any:
        if cmd[:3] == ["espeak-ng", "-v", "en-us"]:
            cmd = [cmd[0], "-v", voice_of_text.get(cmd[-1], "en-us"), *cmd[3:]]
        return original_run(cmd, **kwargs)

    synth_mod.synth = synth
    synth_mod.subprocess = type("Sub", (), {"run": staticmethod(run)})
    return int(synth_mod.main(argv))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
