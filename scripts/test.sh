#!/usr/bin/env bash
# Install what the tests need into .venv and run every test (and the linters).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/browser.sh
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e '.[test]'
python -m ruff check qa_engine api gpu tests
python -m mypy
python -m pytest -q "$@"
