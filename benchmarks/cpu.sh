#!/usr/bin/env bash
# CPU backend benchmarks: builds if needed, prints CSV (op,granularity,M,K,N,threads,gflops,ceiling_gflops).
# Arguments go to dev.float8j.benchmarks.CpuBenchmark, e.g.
#   benchmarks/cpu.sh --sizes=2048 --ops=f32,tensorwise --threads=2 --reps=3
# See docs/cpu-backend.md for what the columns mean.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The local Maven repository is shared by every checkout on the machine, so the benchmark puts this
# checkout's own classes first (the last -cp given to java wins over the launcher's).
# Build first if anything is stale, with the build's output on stderr so that stdout is pure CSV.
"$root/float8j" run -version 1>&2
cp="$root/runtime/target/classes:$root/annotations/target/classes:$root/benchmarks/target/classes"
exec "$root/float8j" run -cp "$cp" dev.float8j.benchmarks.CpuBenchmark "$@"
