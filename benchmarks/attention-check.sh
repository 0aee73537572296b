#!/usr/bin/env bash
# Checks and times the fused attention kernels (CudaAttention) in one GPU session: the attention tests
# (CudaAttentionTest, and CudaModelOpsTest's attention test, which covers head dims 64 and 128 at sequences that are
# no multiple of the tiles), then AttentionBenchmark at the Llama shape, ROUNDS times.
# Usage from the repository root on the GPU host (staged .gpu/, see stage-gpu.sh):
#   bash .gpu/attention-check.sh [setting ...]
# Each setting is one JVM system property, name=value, under which the tests and benchmark run as one
# configuration; with several, the benchmark rounds alternate between them so that clock drift favours none.
# Without settings, one configuration: the defaults.
# Environment: ROUNDS (default 2) benchmark rounds; BENCH_ARGS "batch seq heads kvHeads headDim" for another shape;
# SANITIZE=1 also runs CudaAttentionTest under compute-sanitizer memcheck and racecheck (shared-memory hazards);
# PYTORCH=1 also times PyTorch's SDPA (benchmarks/attention_pytorch.py) at the same shape.
# Writes $OUT/attention-check.txt (everything) and prints a summary: test verdicts, then CSV lines
# setting,pass,ms,tflops.
set -uo pipefail
set -f  # the class path's '*' is for java, not the shell
out=${OUT:-/tmp/float8j-out}; mkdir -p "$out"
log="$out/attention-check.txt"; : > "$log"
java=${JAVA:-/tmp/jre/bin/java}
[ -n "${JAVA:-}" ] || [ -x /tmp/jre/bin/java ] || { set +f; tar -C /tmp -xJf .gpu/jre.tar.xz; set -f; }
settings=("$@"); [ ${#settings[@]} -gt 0 ] || settings=(default)
cp_jars=$(set +f; ls .gpu/lib/*.jar | tr '\n' ':')
jvm=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g)

# The JVM options for setting $1: -Dname=value, or none for "default".
props() { [ "$1" = default ] || echo "-D$1"; }

# Runs the JUnit console with the selectors given, under setting $1.
junit() {
  local s=$1; shift
  CUDA_LAUNCH_BLOCKING=1 timeout -k 15 "${CLASS_TIMEOUT:-300}" ${WRAP:-} "$java" "${jvm[@]}" $(props "$s") \
    -jar .gpu/junit-console.jar execute --class-path .gpu/test-classes --class-path "$cp_jars" "$@" \
    --details=tree --disable-banner --disable-ansi-colors 2>&1
}
selectors=(--select-class dev.float8j.runtime.cuda.CudaAttentionTest
  --select-method 'dev.float8j.runtime.cuda.CudaModelOpsTest#attentionForwardAndBackwardMatchReference(dev.float8j.runtime.DType)')

summary=()
for s in "${settings[@]}"; do
  echo "##### $s: tests" >> "$log"
  result=$(junit "$s" "${selectors[@]}")
  echo "$result" >> "$log"
  verdict=$(echo "$result" | grep -E '^\[ +[0-9]+ tests (successful|failed|aborted) ' | tr -s ' ' | tr '\n' ' ')
  summary+=("== $s tests: $verdict")
  echo "== $s tests: $verdict"
  echo "$result" | grep -E '✘|^attention ' | head -n "${FIRST_FAILURES:-20}" | cut -c1-300
  if [ -n "${SANITIZE:-}" ]; then
    for tool in memcheck racecheck; do
      echo "##### $s: CudaAttentionTest under compute-sanitizer $tool" >> "$log"
      san=$(CLASS_TIMEOUT=${SANITIZER_TIMEOUT:-900} WRAP="/usr/local/cuda/bin/compute-sanitizer --tool $tool --print-limit 5" \
        junit "$s" --select-class dev.float8j.runtime.cuda.CudaAttentionTest)
      echo "$san" >> "$log"
      line="== $s $tool: $(echo "$san" | grep -E '^========= (ERROR SUMMARY|RACECHECK SUMMARY)' | tr '\n' ' ')"
      summary+=("$line"); echo "$line"
    done
  fi
done

csv=("setting,pass,ms,tflops")
for round in $(seq 1 "${ROUNDS:-2}"); do
  for s in "${settings[@]}"; do
    echo "##### $s: AttentionBenchmark, round $round" >> "$log"
    # BENCH_ARGS is split into its five numbers on purpose
    bench=$(set +f; timeout -k 15 300 "$java" "${jvm[@]}" $(props "$s") -cp '.gpu/lib/*' \
      dev.float8j.benchmarks.cuda.AttentionBenchmark ${BENCH_ARGS:-} 2>&1)
    echo "$bench" >> "$log"
    echo "$bench" | grep '^# device' | head -n 1 | sed "s/^/# $s round $round: /"
    while IFS= read -r l; do csv+=("$s,${l#float8j,}"); done < <(echo "$bench" | grep '^float8j,')
    echo "$bench" | grep -E 'Exception|Error' | head -n 5
  done
done
if [ -n "${PYTORCH:-}" ]; then
  echo "##### PyTorch SDPA" >> "$log"
  PYTHONUNBUFFERED=1 python3 .gpu/attention_pytorch.py ${BENCH_ARGS:-} 2>&1 | tee -a "$log" | grep -v '^#'
fi

echo
echo "=== attention check: summary"
printf '%s\n' "${summary[@]}"
printf '%s\n' "${csv[@]}" | tee "$out/attention-check.csv"
