#!/usr/bin/env bash
# One device call that checks and times everything GPU-side, for a host with CUDA and PyTorch but no JDK, writing
# at most 5 files to $OUT (the device returns 8): log.txt (all output), gpu-tests.txt, llama-gpu.csv, gpu-linear.txt,
# modelops.csv. Stage first, here: benchmarks/stage-gpu.sh, then carry .gpu. Usage: bash .gpu/gpu-check.sh COMMIT
# In order of value, so a call cut short keeps the most useful part: the Llama step (float8j tensorwise with one
# step's kernel times, then BF16 and rowwise, then PyTorch), the CUDA tests, attention and the linear layer beside
# PyTorch, the model ops.
set -uo pipefail
commit=${1:?usage: gpu-check.sh COMMIT}
export OUT=${OUT:-/tmp/float8j-out}; mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
[ -x /tmp/jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
export PATH=/tmp/jre/bin:$PATH
jrun() { java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx48g -cp '.gpu/lib/*' "$@"; }
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv; date -u
csv=$OUT/llama-gpu.csv; echo "system,recipe,tokens_per_s,step_ms,peak_gib,device,commit,date" > "$csv"
for recipe in tensorwise bf16 rowwise; do
  profile=0; [ $recipe = tensorwise ] && profile=40
  timeout 90 bash -c "$(declare -f jrun); jrun \"\$@\"" _ dev.float8j.benchmarks.cuda.LlamaBenchmark $recipe \
    commit="$commit" profile=$profile > /tmp/llama-$recipe.txt 2>&1
  echo "llama $recipe rc=$?"; tail -n 48 /tmp/llama-$recipe.txt | cut -c1-160; grep '^float8j,' /tmp/llama-$recipe.txt >> "$csv"
done
PYTHONUNBUFFERED=1 timeout 120 python3 .gpu/llama_pytorch.py --commit "$commit" 2>&1 | tee /tmp/llama-pytorch.txt | tail -n 3
grep '^pytorch,' /tmp/llama-pytorch.txt >> "$csv"
timeout 150 java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g -jar .gpu/junit-console.jar \
  execute --class-path .gpu/test-classes --class-path "$(ls .gpu/lib/*.jar | tr '\n' ':')" \
  --select-package dev.float8j.runtime.cuda --details=flat --disable-banner --disable-ansi-colors > "$OUT/gpu-tests.txt" 2>&1
echo "tests rc=$?"; grep -E "tests (successful|failed|skipped|aborted)" "$OUT/gpu-tests.txt"
grep -E -A3 "✘|=> " "$OUT/gpu-tests.txt" | head -n 60
timeout 40 bash -c "$(declare -f jrun); jrun \"\$@\"" _ dev.float8j.benchmarks.cuda.AttentionBenchmark 2>&1 | tail -n 4
PYTHONUNBUFFERED=1 timeout 40 python3 .gpu/attention_pytorch.py 2>&1 | tail -n 5
PYTHONUNBUFFERED=1 timeout 60 python3 .gpu/linear_pytorch.py 2>&1 | tail -n 7
timeout 120 bash -c "$(declare -f jrun); jrun \"\$@\"" _ dev.float8j.benchmarks.cuda.GpuLinearBenchmark > "$OUT/gpu-linear.txt" 2>&1
echo "linear rc=$?"; head -n 30 "$OUT/gpu-linear.txt"
timeout 40 bash -c "$(declare -f jrun); jrun \"\$@\"" _ dev.float8j.benchmarks.cuda.ModelOpsBenchmark > "$OUT/modelops.csv" 2>&1
echo "modelops rc=$?"; head -n 30 "$OUT/modelops.csv"
cat "$csv"
