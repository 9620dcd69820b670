#!/usr/bin/env bash
# Debian's Chromium (browser tests and the CI page check drive it; Playwright cannot download a browser
# here) and a font that renders the Chinese pages.
set -euo pipefail
command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends chromium chromium-driver fonts-wqy-microhei >/dev/null; }
