#!/usr/bin/env bash
# float8j's sharded data-parallel Llama benchmark on the GPUs of one host (ShardedLlamaBenchmark), one JVM per GPU:
# for each GPU count and recipe, the ranks start with CUDA_VISIBLE_DEVICES=<their GPU>, FLOAT8J_RANK, FLOAT8J_WORLD_SIZE
# and FLOAT8J_NCCL_ID_FILE (rank 0 writes NCCL's unique id there, the others read it). The 1-GPU run of each recipe
# comes first and is the base of the scaling efficiency of the others. NVLink multicast stays off (NCCL_NVLS_ENABLE=0).
# With FSDP2=1, PyTorch FSDP2 in BF16 (benchmarks/llama_fsdp2.py, torchrun) runs beside it on the same GPU counts.
# Expects the staged .gpu/ folder (benchmarks/stage-gpu.sh) and PyTorch's NCCL (or NCCL_LIB=/path/libnccl.so.2).
# Usage from the repository root:
#   benchmarks/multi-gpu.sh COMMIT [GPU_COUNT ...] [-- recipe/gather ...] [-- key=value ...]
#   e.g. benchmarks/multi-gpu.sh abc1234 1 2 4 8 -- bf16/f32 tensorwise/fp8 tensorwise/f32 -- layers=2 batch=1
# GPU counts default to 1 and every visible GPU; recipes to bf16/f32 tensorwise/fp8 tensorwise/f32 rowwise/f32
# blockwise/fp8 blockwise/f32 (rowwise gathers in F32 either way). key=value pairs go to every run (ShardedLlamaBenchmark's
# keys; the model ones also to the FSDP2 script). Writes $OUT/multi-gpu.csv (header
# gpus,recipe,tokens_per_s,scaling_efficiency,device,commit,date) and $OUT/multi-gpu-bytes.csv; copy the first to
# benchmarks/results/multi-gpu.csv.
set -uo pipefail
export NCCL_NVLS_ENABLE=0
commit=${1:?usage: multi-gpu.sh COMMIT [GPU_COUNT ...] [-- recipe/gather ...] [-- key=value ...]}; shift
counts=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do counts+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
recipes=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do recipes+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
visible=$(nvidia-smi -L | wc -l)
[ ${#counts[@]} -gt 0 ] || { counts=(1); [ "$visible" -gt 1 ] && counts+=("$visible"); }
[ ${#recipes[@]} -gt 0 ] || recipes=(bf16/f32 tensorwise/fp8 tensorwise/f32 rowwise/f32 blockwise/fp8 blockwise/f32)
for n in "${counts[@]}"; do
  [ "$n" -le "$visible" ] || { echo "multi-gpu.sh: $n GPUs asked, $visible visible" >&2; exit 2; }
done
NCCL_LIB=${NCCL_LIB:-$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))' 2>/dev/null || true)}
[ -n "$NCCL_LIB" ] && [ -f "$NCCL_LIB" ] || { echo "no libnccl.so.2 found in PyTorch's environment; set NCCL_LIB=/path/libnccl.so.2" >&2; exit 2; }
[ -x /tmp/jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
out=${OUT:-/tmp}/multi-gpu.csv
bytes=${OUT:-/tmp}/multi-gpu-bytes.csv
echo "gpus,recipe,tokens_per_s,scaling_efficiency,device,commit,date" > "$out"
echo "gpus,recipe,weight_gather_bytes_per_rank,reduce_scatter_bytes_per_rank,step_ms,device,commit,date" > "$bytes"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# run_ranks N RECIPE GATHER ONE_GPU_TOKENS_PER_S: N JVMs, one per GPU; rank 0's output lines land in $work/rank0.log
run_ranks() {
  local n=$1 recipe=$2 gather=$3 base=$4 pids=() r status=0
  rm -f "$work/nccl-id"
  for ((r = 0; r < n; r++)); do
    CUDA_VISIBLE_DEVICES=$r FLOAT8J_RANK=$r FLOAT8J_WORLD_SIZE=$n FLOAT8J_NCCL_ID_FILE="$work/nccl-id" \
      /tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx32g ${JAVA_OPTS:-} \
      -Dfloat8j.nccl.libnccl="$NCCL_LIB" -cp '.gpu/lib/*' dev.float8j.benchmarks.cuda.ShardedLlamaBenchmark \
      "$recipe" gather="$gather" oneGpuTokensPerS="$base" commit="$commit" "${extra[@]}" > "$work/rank$r.log" 2>&1 &
    pids+=($!)
  done
  for r in "${!pids[@]}"; do wait "${pids[$r]}" || { status=$?; echo "rank $r of $n failed ($status):" >&2; tail -20 "$work/rank$r.log" >&2; }; done
  cat "$work/rank0.log" >&2
  return $status
}

extra=("$@")
for spec in "${recipes[@]}"; do
  recipe=${spec%%/*}; gather=${spec#*/}; [ "$gather" = "$spec" ] && gather=fp8
  base=0
  for n in "${counts[@]}"; do
    run_ranks "$n" "$recipe" "$gather" "$base" || continue
    line=$(grep -E '^[0-9]+,' "$work/rank0.log" | tail -1)
    echo "$line" >> "$out"
    grep '^bytes,' "$work/rank0.log" | sed 's/^bytes,//' >> "$bytes"
    # the 1-GPU tokens/s is the base of the larger counts' efficiency
    [ "$n" = 1 ] && base=$(echo "$line" | cut -d, -f3)
  done
done

if [ "${FSDP2:-0}" = 1 ]; then
  py_args=(); for kv in "${extra[@]}"; do k=${kv%%=*}; v=${kv#*=}; case $k in
    kvHeads) py_args+=(--kv-heads "$v");; layers|dim|heads|ffn|vocab|batch|seq|warmup|steps) py_args+=("--$k" "$v");; esac; done
  base=0
  for n in "${counts[@]}"; do
    line=$(PYTHONUNBUFFERED=1 torchrun --standalone --nproc-per-node "$n" benchmarks/llama_fsdp2.py --commit "$commit" \
      --one-gpu-tokens-per-s "$base" "${py_args[@]}" 2>&1 | tee -a /dev/stderr | grep -E '^[0-9]+,pytorch' | tail -1)
    [ -n "$line" ] && echo "$line" >> "$out"
    [ "$n" = 1 ] && [ -n "$line" ] && base=$(echo "$line" | cut -d, -f3)
  done
fi
cat "$out" "$bytes"
