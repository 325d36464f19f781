#!/usr/bin/env bash
# Create .venv beside this repository and install certkb into it with the pinned versions in constraints.txt.
#   scripts/setup.sh            the application with the offline chat model (1.1 GB of model parts) and OCR for
#                               scanned PDFs and images (the ocr extra, 90 MB; skipped on Python 3.13+)
#   scripts/setup.sh --dev      the same and everything the tests need
#   scripts/setup.sh --no-llm   the application without the offline model (answers are extractive unless an
#                               LLM endpoint is configured), with OCR
# Safe to run again: an existing .venv is reused and only what is missing gets installed.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="[local,ocr]"
case "${1:-}" in
  "") ;;
  --dev) extras="[dev]" ;;
  --no-llm) extras="[ocr]" ;;
  *) echo "usage: scripts/setup.sh [--dev | --no-llm]" >&2; exit 2 ;;
esac

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "certkb needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.5"

# A CPU build of torch: machines of this project keep one in /opt/wheels, which uv only sees when told.
if [ -d /opt/wheels ] && [ -z "${UV_FIND_LINKS:-}" ]; then
  export UV_FIND_LINKS=/opt/wheels
fi
# Run from this folder, so uv applies pyproject.toml's [tool.uv] override: OCR gets opencv-python-headless, never the
# GUI build of OpenCV (which needs libGL, absent on most servers).
.venv/bin/uv pip install --python .venv/bin/python --compile-bytecode --quiet \
  -c constraints.txt -e ".${extras}"
if [ "$extras" = "[dev]" ] && ! command -v chromium >/dev/null; then
  # The browser tests need Chromium and a CJK font; they skip (with a message) when Chromium is missing.
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
  else
    echo "note: install chromium and a CJK font (Debian: apt-get install chromium fonts-wqy-microhei) for the browser tests" >&2
  fi
fi
echo "certkb is installed in .venv (run .venv/bin/certkb --help)"
