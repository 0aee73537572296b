#!/usr/bin/env bash
# Builds one of the cuBLASLt benchmark programs with nvcc and runs it. For a GPU host with the CUDA toolkit; run from the
# repository root (the programs and cublaslt_bench.cuh must sit beside this script). Usage:
#   benchmarks/cublaslt.sh algos [candidates per shape] [calls per timing] [sustained ms]
#     (cublaslt_algos.cu: every algorithm cuBLASLt's heuristic offers for the Llama step's gemms, with the epilogues
#     float8j uses; with sustained ms, only the linear step's gemms, each candidate also timed held that long)
#   benchmarks/cublaslt.sh search [calls per timing] [ms of timing per shape and scale mode]
#     (cublaslt_search.cu: cuBLASLt's configurations around its heuristic's choice for the step's FP8 gemms, rowwise
#     against tensorwise scales)
set -euo pipefail
program=${1:?usage: cublaslt.sh algos|search [arguments]}; shift
case $program in algos|search) ;; *) echo "cublaslt.sh: no program '$program' (algos, search)" >&2; exit 2;; esac
cuda=${CUDA_HOME:-/usr/local/cuda}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
here=$(dirname "$0")
"$cuda/bin/nvcc" -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o "$dir/cublaslt_$program" \
  "$here/cublaslt_$program.cu" -L"$cuda/lib64" -lcublasLt -lcublas
nvidia-smi --query-gpu=name,clocks.sm,power.draw,power.limit --format=csv,noheader
"$dir/cublaslt_$program" "$@"
