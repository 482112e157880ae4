#!/usr/bin/env bash
# Every GPU path of CornBERT with the paper model on this machine's GPUs (a tiny model on CPU), see gpu_check.py.
# Figures go to $OUT/gpu_check.json and the whole output to $OUT/gpu_check.log when OUT is set.
# Usage: bash bench/gpu_check.sh [--steps N] [--size paper|tiny]
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/workflow_scripts${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
if [[ -n "${OUT:-}" ]]; then
    mkdir -p "$OUT"
    "$python" bench/gpu_check.py "$@" 2>&1 | tee "$OUT/gpu_check.log"
else
    "$python" bench/gpu_check.py "$@"
fi
