#!/usr/bin/env bash
# Builds benchmarks/cublaslt_search.cu with nvcc and runs it: cuBLASLt's configurations around its heuristic's choice for the Llama step's
# FP8 gemms, rowwise against tensorwise scales. For a GPU host with the CUDA toolkit; run from the repository root (it
# needs benchmarks/cublaslt_search.cu and fill_fp8.cuh beside it). Arguments: [calls per timing] [ms of timing per shape
# and scale mode].
set -euo pipefail
cuda=${CUDA_HOME:-/usr/local/cuda}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
here=$(dirname "$0")
"$cuda/bin/nvcc" -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o "$dir/cublaslt_search" \
  "$here/cublaslt_search.cu" -L"$cuda/lib64" -lcublasLt
nvidia-smi --query-gpu=name,clocks.sm,power.draw,power.limit --format=csv,noheader
"$dir/cublaslt_search" "$@"
