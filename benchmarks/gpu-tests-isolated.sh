#!/usr/bin/env bash
# Runs each CUDA test class in its own JVM with CUDA_LAUNCH_BLOCKING=1, so an illegal memory access fails the
# launch that made it instead of poisoning the shared context for every later test. With SANITIZE="Class ...",
# those classes run again under compute-sanitizer's memcheck, which names the kernel, thread and address;
# SANITIZE_ONLY=1 skips the plain runs.
# Usage from the repository root on the GPU host (staged .gpu/, see stage-gpu.sh):
#   bash .gpu/gpu-tests-isolated.sh [Class ...]   (default: every class in the staged cuda test package)
# Writes $OUT/gpu-tests-isolated.txt (and $OUT/sanitizer.txt with SANITIZE); prints each class's verdict and first
# failures.
set -uo pipefail
out=${OUT:-/tmp/float8j-out}; mkdir -p "$out"
[ -x /tmp/jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
classes=("$@")
[ ${#classes[@]} -gt 0 ] || classes=($(cd .gpu/test-classes && ls dev/float8j/runtime/cuda/*Test.class | xargs -n1 basename | sed 's/\.class$//'))
cp_jars=$(ls .gpu/lib/*.jar | tr '\n' ':')
# one kernel cache for every class's JVM: only the first compiles each kernel file (KernelCache). Each timeout kills
# 15 s after its SIGTERM: a JVM waiting on a kernel that never finishes does not act on SIGTERM.
junit() {
  "$@" /tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g \
    -Dfloat8j.cuda.kernelCache="${KERNEL_CACHE:-/tmp/float8j-kernels}" \
    -jar .gpu/junit-console.jar execute --class-path .gpu/test-classes --class-path "$cp_jars" \
    --select-class "dev.float8j.runtime.cuda.$c" --details=tree --disable-banner --disable-ansi-colors 2>&1
}
[ -n "${SANITIZE_ONLY:-}" ] || : > "$out/gpu-tests-isolated.txt"
[ -n "${SANITIZE_ONLY:-}" ] && classes=()
for c in "${classes[@]}"; do
  log=$(CUDA_LAUNCH_BLOCKING=1 junit timeout -k 15 "${CLASS_TIMEOUT:-120}")
  echo "##### $c" >> "$out/gpu-tests-isolated.txt"; echo "$log" >> "$out/gpu-tests-isolated.txt"
  echo "== $c: $(echo "$log" | grep -E '^\[ +[0-9]+ tests (successful|failed|aborted) ' | tr -s ' ' | tr '\n' ' ')"
  echo "$log" | grep '✘' | head -n "${FIRST_FAILURES:-4}" | cut -c1-400
done
[ -z "${SANITIZE:-}" ] || : > "$out/sanitizer.txt"
for c in ${SANITIZE:-}; do
  echo "##### $c under compute-sanitizer" >> "$out/sanitizer.txt"
  junit timeout -k 15 "${SANITIZER_TIMEOUT:-240}" /usr/local/cuda/bin/compute-sanitizer --tool memcheck --print-limit 3 \
    --show-backtrace device >> "$out/sanitizer.txt"
  grep -E '^=========' "$out/sanitizer.txt" | head -40
done
