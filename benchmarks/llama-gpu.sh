#!/usr/bin/env bash
# The Llama training-step benchmark on the GPU host: PyTorch's BF16 reference (benchmarks/llama_pytorch.py) and
# float8j's LlamaBenchmark for each recipe, same model and shapes, in one run. Expects the staged .gpu/ folder
# (jre.tar.xz, lib/*.jar; see docs/cuda-backend.md). Writes CSV lines to stdout and to $OUT/llama-gpu.csv.
# Usage from the repository root: benchmarks/llama-gpu.sh COMMIT [recipe ...] [-- key=value ...]
# JAVA_OPTS passes JVM flags to float8j's runs, e.g. JAVA_OPTS=-Dfloat8j.reuseWeightCasts=false.
set -uo pipefail
commit=${1:?usage: llama-gpu.sh COMMIT [recipe ...] [-- key=value ...]}; shift
recipes=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do recipes+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#recipes[@]} -gt 0 ] || recipes=(bf16 tensorwise rowwise)
out=${OUT:-/tmp}/llama-gpu.csv
[ -x /tmp/jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
echo "system,recipe,tokens_per_s,step_ms,peak_gib,device,commit,date" | tee "$out"
# key=value pairs map onto the PyTorch script's options of the same meaning
py_args=(); for kv in "$@"; do k=${kv%%=*}; v=${kv#*=}; case $k in
  kvHeads) py_args+=(--kv-heads "$v");; commit) ;; *) py_args+=("--$k" "$v");; esac; done
# The GPU's power state drifts over a run (the 700 W cap moves the SM clock between about 1.0 and 2.0 GHz), by more than
# the differences being measured. So PyTorch's step is timed before float8j's runs and again after each round of them
# (ROUNDS rounds, default 1): every system and recipe gets the fastest of its runs as its CSV line, and every run is
# printed as a comment. PyTorch runs once more than each recipe, which can only favour it.
# Where stage-gpu.sh staged a base commit (BASE=REV: .gpu/lib-base), every round also runs each recipe on the base's
# jars, next to this checkout's run: a change smaller than the drift shows between the two, and $OUT/llama-ab.csv gets
# each system's fastest run with the base's as system float8j-base.
rounds=${ROUNDS:-1}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a positive whole number, got '$rounds'" >&2; exit 2; }
# With CLOCKS=1 nvidia-smi samples the SM clock and the board power every 100 ms during each run, and
# $OUT/llama-clocks.csv gets each run's median over its busy samples (power above BUSY_WATTS, default 300: the steps,
# not the process's start): the steps run under the 700 W cap, so a stack's clock is part of its time.
clocks_csv=$(dirname "$out")/llama-clocks.csv
[ "${CLOCKS:-0}" = 1 ] && echo "system,recipe,commit,median_sm_mhz,median_power_w,busy_samples" > "$clocks_csv"
sampled() {  # sampled SYSTEM RECIPE COMMIT COMMAND...: runs the command, sampling clocks around it if asked
  local system=$1 recipe=$2 at=$3; shift 3
  if [ "${CLOCKS:-0}" != 1 ]; then "$@"; return; fi
  local trace sampler
  trace=$(mktemp)
  nvidia-smi --query-gpu=clocks.sm,power.draw --format=csv,noheader,nounits -lms 100 > "$trace" 2>/dev/null &
  sampler=$!
  "$@"
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  awk -F', *' -v busy="${BUSY_WATTS:-300}" -v key="$system,$recipe,$at" '
    $2 + 0 > busy { n++; mhz[n] = $1 + 0; watts[n] = $2 + 0 }
    function median(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    END { if (n) printf "%s,%.0f,%.0f,%d\n", key, median(mhz, n), median(watts, n), n; else printf "%s,,,0\n", key }
  ' "$trace" | tee -a "$clocks_csv" | sed 's/^/# clocks: /' >&2
  rm -f "$trace"
}
pytorch() {
  sampled pytorch bf16 "$commit" env PYTHONUNBUFFERED=1 python3 benchmarks/llama_pytorch.py --commit "$commit" \
    "${py_args[@]}" 2>&1 | tee -a /dev/stderr | grep '^pytorch,'
}
# one recipe's run on the class path $1 (system name $2, commit $3), as its CSV line
float8j() {
  local cp=$1 system=$2 at=$3 recipe=$4; shift 4
  sampled "$system" "$recipe" "$at" \
  /tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx48g ${JAVA_OPTS:-} \
    -Dfloat8j.cuda.kernelCache="${KERNEL_CACHE:-/tmp/float8j-kernels}" \
    -cp "$cp" dev.float8j.benchmarks.cuda.LlamaBenchmark "$recipe" commit="$at" "$@" 2>&1 | tee -a /dev/stderr \
    | grep '^float8j,' | sed "s/^float8j,/$system,/"
}
base_cp=""
base_commit=""
if [ -f .gpu/lib-base/COMMIT ]; then
  # the base's float8j jars and this checkout's dependencies (the same versions unless the base's pom differs)
  base_cp=".gpu/lib-base/*:$(ls .gpu/lib/*.jar | grep -v '/float8j-' | paste -sd:)"
  base_commit=$(cat .gpu/lib-base/COMMIT)
fi
runs=("$(pytorch)")
for ((round = 1; round <= rounds; round++)); do
  for r in "${recipes[@]}"; do
    # with a base, odd rounds run it second and even rounds first, so that neither always meets the hotter GPU
    if [ -n "$base_cp" ] && ((round % 2 == 0)); then
      runs+=("$(float8j "$base_cp" float8j-base "$base_commit" "$r" "$@")")
    fi
    runs+=("$(float8j '.gpu/lib/*' float8j "$commit" "$r" "$@")")
    if [ -n "$base_cp" ] && ((round % 2 == 1)); then
      runs+=("$(float8j "$base_cp" float8j-base "$base_commit" "$r" "$@")")
    fi
  done
  runs+=("$(pytorch)")
done
printf '# run: %s\n' "${runs[@]}" >&2
# the fastest run of each system and recipe (column 4 is step_ms), PyTorch's first
fastest() {
  for key in "$@"; do
    local line
    line=$(printf '%s\n' "${runs[@]}" | grep "^$key," | sort -t, -k4,4g | head -n 1)
    if [ -n "$line" ]; then echo "$line"; else echo "# no run of $key printed a result (see its log above)" >&2; fi
  done
}
fastest pytorch,bf16 $(printf 'float8j,%s ' "${recipes[@]}") >> "$out"
cat "$out"
if [ -n "$base_cp" ]; then
  ab=$(dirname "$out")/llama-ab.csv
  head -n 1 "$out" > "$ab"
  fastest pytorch,bf16 $(for r in "${recipes[@]}"; do printf 'float8j,%s float8j-base,%s ' "$r" "$r"; done) >> "$ab"
  cat "$ab"
fi
