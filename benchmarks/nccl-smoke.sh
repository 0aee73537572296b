#!/usr/bin/env bash
# The one-GPU smoke test of float8j's NCCL binding, for a GPU host with CUDA and PyTorch's NCCL but no JDK: a
# communicator of size 1 (every collective, and the device FP8 all-gather of every recipe against the whole weight's
# quantization), sharded training on CUDA against LlamaTrainer (ShardedCudaTrainingTest) and the binding against the
# stand-in library. Expects the staged folder .gpu/ (benchmarks/stage-gpu.sh).
# NVLink multicast stays off: NCCL_NVLS_ENABLE=0 (float8j refuses any other value).
set -euo pipefail
export NCCL_NVLS_ENABLE=0
[ -x /tmp/jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
NCCL_LIB=${NCCL_LIB:-$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))' 2>/dev/null || true)}
[ -n "$NCCL_LIB" ] && [ -f "$NCCL_LIB" ] || { echo "no libnccl.so.2 found in PyTorch's environment; set NCCL_LIB=/path/libnccl.so.2" >&2; exit 2; }
echo "NCCL: $NCCL_LIB"
exec /tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -Dfloat8j.nccl.libnccl="$NCCL_LIB" -jar .gpu/junit-console.jar execute \
  --class-path ".gpu/test-classes:$(ls .gpu/lib/*.jar | tr '\n' ':')" \
  --select-class dev.float8j.runtime.cuda.NcclCommunicatorTest --select-class dev.float8j.runtime.cuda.NcclBindingTest \
  --select-class dev.float8j.runtime.cuda.ShardedCudaTrainingTest \
  --details=tree --disable-banner
