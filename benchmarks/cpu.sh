#!/usr/bin/env bash
# CPU backend benchmarks: builds if needed, prints CSV (op,granularity,M,K,N,threads,gflops,ceiling_gflops).
# Arguments go to dev.float8j.benchmarks.CpuBenchmark, e.g.
#   benchmarks/cpu.sh --sizes=2048 --ops=f32,tensorwise --threads=2 --reps=3
# With --peer=torch it also times PyTorch's CPU matmul (F32, BF16): it then builds the benchmarks module with the
# torch-peer Maven profile (downloads the JavaCPP PyTorch presets, about 90 MB, on first use).
# With --onednn it also times the FP8 gemms through oneDNN's BF16 matmul (rows gemm_onednn, alternating with the
# Vector API's gemm rows): it then builds the benchmarks module with the onednn Maven profile (org.bytedeco:dnnl and
# opencl, classifier linux-x86_64, about 40 MB, downloaded on first use) and puts those jars on the classpath.
# See docs/cpu-backend.md for what the columns mean.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The local Maven repository is shared by every checkout on the machine, so the benchmark puts this
# checkout's own classes first (the last -cp given to java wins over the launcher's).
# Build first if anything is stale, with the build's output on stderr so that stdout is pure CSV.
java_home="$("$root/float8j" run -XshowSettings:properties -version 2>&1 | tee /dev/stderr | sed -n 's/^ *java.home = //p')"
cp="$root/runtime/target/classes:$root/plan/target/classes:$root/annotations/target/classes:$root/benchmarks/target/classes"
for arg in "$@"; do
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
exec "$root/float8j" run -cp "$cp" dev.float8j.benchmarks.CpuBenchmark "$@"
