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
# PyTorch's step is timed before and after float8j's runs (the GPU's power state drifts over a run); the faster of the
# two is the CSV's pytorch line, and both are printed as comments
pytorch() {
  PYTHONUNBUFFERED=1 python3 benchmarks/llama_pytorch.py --commit "$commit" "${py_args[@]}" 2>&1 | tee -a /dev/stderr \
    | grep '^pytorch,'
}
before=$(pytorch)
floats=()
for r in "${recipes[@]}"; do
  floats+=("$(/tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx48g ${JAVA_OPTS:-} \
    -cp '.gpu/lib/*' dev.float8j.benchmarks.cuda.LlamaBenchmark "$r" commit="$commit" "$@" 2>&1 | tee -a /dev/stderr \
    | grep '^float8j,')")
done
after=$(pytorch)
echo "# pytorch before float8j: $before" >&2
echo "# pytorch after float8j:  $after" >&2
printf '%s\n%s\n' "$before" "$after" | grep '^pytorch,' | sort -t, -k4,4 -g | head -n 1 >> "$out"
printf '%s\n' "${floats[@]}" | grep '^float8j,' >> "$out"
cat "$out"
