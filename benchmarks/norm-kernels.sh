#!/usr/bin/env bash
# Builds benchmarks/norm_kernels.cu with nvcc (sm_90a) and runs it: rmsnorm.cu's kernels beside other designs of the
# same ops, checked against them and timed at the Llama shape, without Java. For a Hopper host with the CUDA toolkit;
# run from the repository root.
# NCU=1 runs "profile" under Nsight Compute instead (one report per kernel: throughput, occupancy, warp stalls).
set -euo pipefail
cuda=${CUDA_HOME:-/usr/local/cuda}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp benchmarks/norm_kernels.cu benchmarks/kernel_bench.cuh runtime/src/main/resources/dev/float8j/runtime/cuda/{rmsnorm.cu,common.cuh} "$dir"/
"$cuda/bin/nvcc" -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o "$dir/norm_kernels" "$dir/norm_kernels.cu"
if [ -n "${NCU:-}" ]; then
  ncu=$(command -v ncu || echo "$cuda/bin/ncu")
  "$ncu" --clock-control none --launch-skip 0 --section SpeedOfLight --section Occupancy --section WarpStateStats \
    --section MemoryWorkloadAnalysis "$dir/norm_kernels" profile
else
  "$dir/norm_kernels" "$@"
fi
