#!/usr/bin/env bash
# Times one FP8 linear layer's forward+backward against BF16 on the GPU (GpuLinearBenchmark), on a host with
# CUDA but no JDK. Expects the staged folder .gpu/ (jre.tar.xz from ../shared/gpu/pack-jre.sh, lib/*.jar);
# see docs/cuda-backend.md. Usage from the repository root: benchmarks/gpu.sh [--quick] [--fast-accum-all]
# GPU_JVM_OPTS passes options to the JVM, e.g. GPU_JVM_OPTS=-Dfloat8j.cuda.ownGemm=blockwise.
set -euo pipefail
[ -x /tmp/jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
exec /tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx32g ${GPU_JVM_OPTS:-} \
  -cp '.gpu/lib/*' dev.float8j.benchmarks.cuda.GpuLinearBenchmark "$@"
