#!/usr/bin/env bash
# Everything float8j does on the GPU host, in one call (the host has CUDA and PyTorch but no JDK).
# Expects in .gpu/: jre.tar.xz (../shared/gpu/pack-jre.sh), lib/*.jar (float8j jars and dependencies),
# test-classes/ and junit-console.jar for the GPU tests, fp8_vs_pytorch.py.
# Usage, from the repository root: .gpu/gpu-session.sh STEP... with steps probe, fp8check, test, modelops, llama,
# attention, attention-kernels, own-gemm, gemm-search, bench, train, llama-demo. Stage .gpu/ first with benchmarks/stage-gpu.sh. COMMIT names the commit in the CSV lines.
# Outputs go to $OUT (default /tmp/float8j-out).
set -uo pipefail
out=${OUT:-/tmp/float8j-out}
mkdir -p "$out"
[ -x /tmp/jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
export PATH=/tmp/jre/bin:$PATH
java_cmd=(java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g -cp '.gpu/lib/*')
java_run() { "${java_cmd[@]}" "$@"; }

for step in "$@"; do
  echo "=== $step $(date -u +%FT%TZ)"
  case $step in
    probe)
      nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$out/probe.txt"
      hdr=/usr/local/cuda/include/cublasLt.h
      grep -n -E "CUBLASLT_MATMUL_DESC_(TRANSA|TRANSB|A_SCALE_POINTER|B_SCALE_POINTER|FAST_ACCUM|A_SCALE_MODE|B_SCALE_MODE) |CUBLASLT_MATMUL_MATRIX_SCALE_[A-Z0-9x_]+ *=|CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES *=" "$hdr" | tee -a "$out/probe.txt"
      grep -n -B2 -A8 -E "SCALE_VEC128_32F|SCALE_BLK128x128_32F|SCALE_OUTER_VEC_32F" "$hdr" > "$out/cublasLt-scale-modes.txt"
      java_run dev.float8j.runtime.cuda.CudaProbe 2>&1 | tee -a "$out/probe.txt"
      ;;
    fp8check)
      for f in E4M3FN E5M2; do
        lower=$(echo "$f" | tr A-Z a-z)
        java_run -Xmx2g dev.float8j.benchmarks.Fp8EncodeStream "$f" | PYTHONUNBUFFERED=1 python3 .gpu/fp8_vs_pytorch.py "$lower"
      done 2>&1 | tee "$out/fp8-vs-pytorch.txt"
      ;;
    test)
      # one JVM per test class, so a kernel's illegal address fails its own class, not every later one
      OUT=$out bash .gpu/gpu-tests-isolated.sh
      ;;
    modelops)
      # each CUDA model op at the Llama benchmark's shapes (ms and effective GB/s)
      java_run dev.float8j.benchmarks.cuda.ModelOpsBenchmark 2>&1 | tee "$out/modelops-bench.csv"
      ;;
    llama)
      # the Llama step: PyTorch's BF16 reference and float8j per recipe (5 warm-up and 10 timed steps each, two rounds,
      # each system's fastest run: the protocol of record), then two more tensorwise steps with every kernel timed and
      # their timeline; where a base commit is staged (stage-gpu.sh's BASE=REV) each round also runs it (llama-ab.csv)
      OUT=$out ROUNDS=${LLAMA_ROUNDS:-2} bash .gpu/llama-gpu.sh "${COMMIT:-unknown}" ${LLAMA_RECIPES:-bf16 tensorwise tensorwise_fast_accum rowwise rowwise_fast_accum} -- warmup=5 steps=10 \
        2>&1 | tail -n 8
      java_run -Xmx48g dev.float8j.benchmarks.cuda.LlamaBenchmark tensorwise commit="${COMMIT:-unknown}" warmup=4 steps=2 \
        profile=40 profilesteps=2 timeline="$out/llama-timeline.csv" 2>&1 | tee "$out/llama-kernels.txt" | tail -n 45
      ;;
    attention)
      java_run dev.float8j.benchmarks.cuda.AttentionBenchmark 2>&1 | tee "$out/attention.csv"
      PYTHONUNBUFFERED=1 python3 .gpu/attention_pytorch.py 2>&1 | tee -a "$out/attention.csv"
      ;;
    attention-kernels)
      # attention_sm90.cu alone (Hopper): checked against a double-precision reference and timed, then sanitized
      bash benchmarks/attention-kernels.sh 2>&1 | tee "$out/attention-kernels.txt"
      SANITIZE=1 bash benchmarks/attention-kernels.sh 2>&1 | grep -E "SUMMARY|check:" | tee -a "$out/attention-kernels.txt"
      ;;
    own-gemm)
      # float8j's own Hopper gemms (gemm_sm90.cu): alone with nvcc (as they are and with the block-scaled promotion
      # unscaled), checked against the reference and cuBLASLt, then, if that passed, in the linear step at 16384 x 8192
      # x 8192 with and without them. JVMs are killed outright at their limits: one waiting on a kernel that never
      # finishes ignores SIGTERM.
      timeout -s KILL 150 bash benchmarks/gemm-block-kernels.sh 2>&1 | tee "$out/gemm-block-kernels.csv"
      verdict=$(OUT=$out CLASS_TIMEOUT=100 bash .gpu/gpu-tests-isolated.sh HopperFp8GemmTest | tee /dev/stderr)
      if echo "$verdict" | grep -q "\[ 0 tests failed \]" && ! echo "$verdict" | grep -q "\[ 0 tests successful \]"; then
        for own in false true; do
          timeout -s KILL 90 "${java_cmd[@]}" -Dfloat8j.cuda.ownGemm=$own dev.float8j.benchmarks.cuda.GpuLinearBenchmark \
            --shapes 16384,8192,8192 2>&1 | grep -v WARNING | tee "$out/linear-own-$own.txt"
        done
      fi
      ;;
    gemm-search)
      # cuBLASLt's configurations around its heuristic's choice for the Llama step's FP8 gemms, rowwise against tensorwise
      bash benchmarks/cublaslt.sh search 5 ${SEARCH_MS:-5000} 2>&1 | tee "$out/cublaslt-search.csv"
      ;;
    bench)
      # PyTorch's compiled BF16 linear step before and after float8j's, at the same shapes: the GPU's power state
      # drifts over a run, and the faster of PyTorch's two times counts
      PYTHONUNBUFFERED=1 python3 .gpu/linear_pytorch.py 2>&1 | tee "$out/gpu-bench.txt"
      bash .gpu/gpu.sh ${BENCH_ARGS:-} 2>&1 | tee -a "$out/gpu-bench.txt"
      PYTHONUNBUFFERED=1 python3 .gpu/linear_pytorch.py 2>&1 | tee -a "$out/gpu-bench.txt"
      # the Python FP8 peer (compiled casts and torch._scaled_mm, torchao's method) at the same shapes
      PYTHONUNBUFFERED=1 timeout "${PEER_TIMEOUT:-300}" python3 .gpu/linear_fp8_pytorch.py 2>&1 | tee "$out/gpu-peer.csv"
      # the table of record: each FP8 step against the faster of the two BF16 steps of this run
      python3 .gpu/gpu_linear_csv.py "$out/gpu-bench.txt" "${COMMIT:-unknown}" > "$out/gpu-linear.csv"
      python3 .gpu/gpu_peer_csv.py "$out/gpu-linear.csv" "$out/gpu-peer.csv" > "$out/gpu-linear-peer.csv"
      ;;
    train)
      # the sample model on the GPU and on the host CPU, same seed: their losses must agree within FP8 tolerance
      for b in cuda cpu; do
        java_run -Djava.awt.headless=true dev.float8j.samples.Demo --backend $b --out "$out/reports-$b" ${TRAIN_ARGS:-} 2>&1 \
          | tr '\r' '\n' > "$out/train-$b.txt"
        tail -n 30 "$out/train-$b.txt"
      done
      (cd "$out" && tar -czf reports.tgz reports-* && rm -rf reports-*)
      ;;
    llama-demo)
      # the Llama demo on the GPU: BF16 against each FP8 recipe for 1,000 steps on the JDK's java.util sources
      java_run -Djava.awt.headless=true dev.float8j.samples.Demo --model llama --backend cuda --steps 1000 \
        --data .gpu/jdk-sources.txt --out "$out/llama-demo" ${LLAMA_DEMO_ARGS:-} 2>&1 | tr '\r' '\n' > "$out/llama-demo.txt"
      tail -n 30 "$out/llama-demo.txt"
      (cd "$out" && tar -czf llama-demo.tgz llama-demo && rm -rf llama-demo)
      ;;
    *) echo "unknown step $step" ;;
  esac
done
