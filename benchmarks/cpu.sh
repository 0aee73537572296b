#!/usr/bin/env bash
# CPU backend benchmarks: builds if needed, prints CSV (op,granularity,M,K,N,threads,gflops,ceiling_gflops).
# Arguments go to dev.float8j.benchmarks.CpuBenchmark, e.g.
#   benchmarks/cpu.sh --sizes=2048 --ops=f32,tensorwise --threads=2 --reps=3
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "$root/float8j" run dev.float8j.benchmarks.CpuBenchmark "$@"
