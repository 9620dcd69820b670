#!/usr/bin/env bash
# Install what the tests need into .venv and run every test (and the linters).
set -euo pipefail
cd "$(dirname "$0")/.."
# The web UI's browser tests drive Debian's Chromium (Playwright cannot download a browser here);
# the font renders the Chinese pages.
command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends chromium chromium-driver fonts-wqy-microhei >/dev/null; }
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e '.[test]'
python -m ruff check qa_engine api gpu tests
python -m mypy
python -m pytest -q "$@"
