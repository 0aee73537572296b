#!/usr/bin/env bash
# One device call that checks and times everything GPU-side, most valuable first, so a call cut short keeps the most
# useful part: gpu-session.sh's steps llama (PyTorch's step, float8j's per recipe, one step's kernel times), test,
# attention, bench (the linear layer beside PyTorch) and modelops, with all output also in $OUT/log.txt. That is 7
# files in $OUT; the device returns 8. Stage first, here: benchmarks/stage-gpu.sh, then carry .gpu.
# Usage from the repository root on the GPU host: bash .gpu/gpu-check.sh COMMIT
set -uo pipefail
export COMMIT=${1:?usage: gpu-check.sh COMMIT}
export OUT=${OUT:-/tmp/float8j-out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv 2>&1 | tee "$OUT/log.txt"
bash .gpu/gpu-session.sh llama test attention bench modelops 2>&1 | tee -a "$OUT/log.txt"
