#!/usr/bin/env bash
# Builds benchmarks/cublaslt_algos.cu with nvcc and runs it: every algorithm cuBLASLt's heuristic offers for the Llama
# step's gemms, timed, with the epilogues float8j uses. For a GPU host with the CUDA toolkit; run from the repository
# root (the staged copy .gpu/cublaslt-algos.sh works as well). Arguments: [candidates per shape] [calls per timing].
set -euo pipefail
cuda=${CUDA_HOME:-/usr/local/cuda}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
here=$(dirname "$0")
"$cuda/bin/nvcc" -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o "$dir/cublaslt_algos" \
  "$here/cublaslt_algos.cu" -L"$cuda/lib64" -lcublasLt -lcublas
nvidia-smi --query-gpu=name,clocks.sm,power.draw,power.limit --format=csv,noheader
"$dir/cublaslt_algos" "$@"
