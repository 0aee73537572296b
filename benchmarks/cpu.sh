#!/usr/bin/env bash
# CPU backend benchmarks: builds if needed, prints CSV (op,granularity,M,K,N,threads,gflops,ceiling_gflops).
# Arguments go to dev.float8j.benchmarks.CpuBenchmark, e.g.
#   benchmarks/cpu.sh --sizes=2048 --ops=f32,tensorwise --threads=2 --reps=3
# With --peer=torch it also times PyTorch's CPU matmul (F32, BF16): it then builds the benchmarks module with the
# torch-peer Maven profile (downloads the JavaCPP PyTorch presets, about 90 MB, on first use).
# With --onednn it also times the FP8 gemms through oneDNN's BF16 matmul (rows gemm_onednn, alternating with the
# Vector API's gemm rows): it then builds the benchmarks module with the onednn Maven profile (org.bytedeco:dnnl and
# opencl, classifier linux-x86_64, about 40 MB, downloaded on first use) and puts those jars on the classpath.
# --jvm=OPTION passes one option to the benchmark's JVM, e.g. --jvm=-XX:MaxVectorSize=32 (256-bit vectors, so the
# AVX2 kernel, on an AVX-512 machine) or --jvm=-XX:UseAVX=2.
# Before the CSV it writes to stderr what a recorded run needs: date, commit, lscpu's model and vector flags, CPU
# count, load average, the CPUs the process may run on with the OpenMP placement variables, and JVM options.
# See docs/cpu-backend.md for what the columns mean.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The local Maven repository is shared by every checkout on the machine, so the benchmark puts this
# checkout's own classes first (the last -cp given to java wins over the launcher's).
# Build first if anything is stale, with the build's output on stderr so that stdout is pure CSV.
java_home="$("$root/float8j" run -XshowSettings:properties -version 2>&1 | tee /dev/stderr | sed -n 's/^ *java.home = //p')"
cp="$root/runtime/target/classes:$root/plan/target/classes:$root/annotations/target/classes:$root/benchmarks/target/classes"
jvm=()
bench=()
for arg in "$@"; do
  case "$arg" in
    --jvm=*) jvm+=("${arg#--jvm=}") ;;
    *) bench+=("$arg") ;;
  esac
done
{
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- runtime benchmarks 2>/dev/null || echo '+changes')"
  echo "# $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p'), model $(lscpu 2>/dev/null | sed -n 's/^Model: *//p'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# flags: $(grep -m1 -o -w -E 'avx2|fma|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16|amx_bf16|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  # where the threads may run: oneDNN's OpenMP threads on two SMT siblings would share one core's AMX unit
  echo "# affinity: $(taskset -cp $$ 2>/dev/null | sed 's/.*: //') of $(nproc --all) CPUs, $(lscpu 2>/dev/null | sed -n 's/^Thread(s) per core: *//p') threads per core; OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset} OMP_PLACES=${OMP_PLACES:-unset} OMP_PROC_BIND=${OMP_PROC_BIND:-unset}"
  echo "# JVM options: ${jvm[*]:-none}; arguments: ${bench[*]:-none}"
} >&2
for arg in "${bench[@]}"; do
  if [ "$arg" = "--peer=torch" ]; then
    (cd "$root" && JAVA_HOME="$java_home" mvn -B -q -Dstyle.color=never -Ptorch-peer -pl benchmarks package -DskipTests) 1>&2
    torch_cp="$(cat "$root/benchmarks/target/torch-classpath.txt")"
    "$java_home/bin/javac" -nowarn -d "$root/benchmarks/target/torch-classes" \
      -cp "$root/benchmarks/target/classes:$torch_cp" "$root"/benchmarks/src/torch/java/dev/float8j/benchmarks/*.java 1>&2
    cp="$cp:$root/benchmarks/target/torch-classes:$torch_cp"
  fi
  if [ "$arg" = "--onednn" ]; then
    (cd "$root" && JAVA_HOME="$java_home" mvn -B -q -Dstyle.color=never -Ponednn -pl benchmarks package -DskipTests) 1>&2
    cp="$cp:$(cat "$root/benchmarks/target/onednn-classpath.txt")"
  fi
done
exec "$root/float8j" run ${jvm[@]+"${jvm[@]}"} -cp "$cp" dev.float8j.benchmarks.CpuBenchmark ${bench[@]+"${bench[@]}"}
