#!/usr/bin/env bash
# Section 3b on a lent GPU machine: our pretraining loop (compiled and not) against the stock HF Trainer, paper
# model, real promoters, one process per contender (bench/run.py training_gpu), then every GPU path once more
# (bench/gpu_check.sh) with the same loop. Figures and logs go to $OUT when it is set.
# Usage: bash bench/gpu_training.sh CORPUS [BATCH...]   (CORPUS: promoters one per line, as ../shared does not
# travel; BATCH: only these runs of bench/run.py's GPU_TRAINING_RUNS). GPU_CHECK_TIMEOUT_S=0 skips gpu_check.
# Wheels in .whl/ (transformers, tokenizers, safetensors newer than the machine's) are installed first.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:?usage: bash bench/gpu_training.sh CORPUS [BATCH...]}
shift
out=${OUT:-/tmp/cornbert-gpu-training}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$out/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
python3 bench/run.py training_gpu --corpus "$corpus" ${1:+--batch-sizes "$@"} --threads 8 --workdir /tmp/cornbert-bench --no-report \
    2>&1 | tee "$out/training_gpu.log"
cp bench/results/training_gpu.json "$out/"
if [[ ${GPU_CHECK_TIMEOUT_S:-150} != 0 ]]; then
    OUT="$out" timeout "${GPU_CHECK_TIMEOUT_S:-150}" bash bench/gpu_check.sh --steps 40 || echo "gpu_check: exit $?"
fi
