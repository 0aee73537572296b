#!/usr/bin/env bash
# Builds benchmarks/gemm_block_kernels.cu with nvcc (sm_90a) twice and runs both: gemm_sm90.cu's kernels as they are,
# then with the block-scaled kernels' promotion reduced to adding each K block's products unscaled, timed at the
# linear step's shapes without Java. For a Hopper host with the CUDA toolkit; run from the repository root (the staged
# copy .gpu/gemm-block-kernels.sh works as well).
# NCU=1 runs "profile" of the first build under Nsight Compute instead (one report per kernel: throughput, warp stalls).
set -euo pipefail
cuda=${CUDA_HOME:-/usr/local/cuda}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
kernels=runtime/src/main/resources/dev/float8j/runtime/cuda
for variant in scaled add; do
  mkdir -p "$dir/$variant"
  cp benchmarks/gemm_block_kernels.cu benchmarks/kernel_bench.cuh benchmarks/tensor_map.cuh "$kernels"/{gemm_sm90.cu,hopper.cuh,common.cuh} "$dir/$variant"/
  if [ "$variant" = add ]; then
    promote='acc[4 * j + e] = fmaf(part[4 * j + e], sa[e >> 1] * (e & 1 ? b.y : b.x), acc[4 * j + e]);'
    grep -qF "$promote" "$dir/add/gemm_sm90.cu" || { echo "gemm-block-kernels.sh: the promotion line is not in gemm_sm90.cu" >&2; exit 1; }
    sed -i "s/$(printf '%s' "$promote" | sed 's/[][\.*^$/]/\\&/g')/acc[4 * j + e] += part[4 * j + e];/" "$dir/add/gemm_sm90.cu"
  fi
  "$cuda/bin/nvcc" -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -DPROMOTION_NAME="\"$variant\"" \
    -o "$dir/$variant/gemm_block_kernels" "$dir/$variant/gemm_block_kernels.cu"
done
if [ -n "${NCU:-}" ]; then
  ncu=$(command -v ncu || echo "$cuda/bin/ncu")
  "$ncu" --clock-control none --section SpeedOfLight --section WarpStateStats --section MemoryWorkloadAnalysis \
    "$dir/scaled/gemm_block_kernels" profile
else
  "$dir/scaled/gemm_block_kernels"
  "$dir/add/gemm_block_kernels" | grep -v '^kernel,'
fi
