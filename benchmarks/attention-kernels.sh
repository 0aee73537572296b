#!/usr/bin/env bash
# Builds benchmarks/attention_kernels.cu with nvcc (sm_90a) and runs it: attention_sm90.cu's kernels checked against a
# double-precision reference and timed at the Llama shape, without Java. For a Hopper host with the CUDA toolkit;
# run from the repository root (the staged copy .gpu/attention-kernels.sh works as well).
# Usage: bash benchmarks/attention-kernels.sh [check | profile]   (see attention_kernels.cu)
# SANITIZE=1 runs the check under compute-sanitizer memcheck and racecheck instead.
set -euo pipefail
cuda=${CUDA_HOME:-/usr/local/cuda}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp benchmarks/attention_kernels.cu benchmarks/kernel_bench.cuh benchmarks/tensor_map.cuh runtime/src/main/resources/dev/float8j/runtime/cuda/{attention_sm90.cu,attention.cuh,hopper.cuh,common.cuh} "$dir"/
"$cuda/bin/nvcc" -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o "$dir/attention_kernels" "$dir/attention_kernels.cu"
if [ -n "${SANITIZE:-}" ]; then
  for tool in memcheck racecheck; do
    "$cuda/bin/compute-sanitizer" --tool "$tool" --print-limit 5 "$dir/attention_kernels" check
  done
else
  "$dir/attention_kernels" "$@"
fi
