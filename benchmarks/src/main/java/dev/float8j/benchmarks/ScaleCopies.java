package dev.float8j.benchmarks;

import dev.float8j.plan.Fp8Format;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.cpu.CpuBackend;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Bytes the calling thread allocates per CPU quantize, dequantize and gemm (each result released, as a training step
 * does), per granularity, next to the size of the scale grid: a copy of the scales per call would show up as that
 * many more bytes. Allocation is counted, not timed, so the figures are steady on a busy machine. Usage:
 * {@code ./float8j run dev.float8j.benchmarks.ScaleCopies [size]} (default 512: size x size E4M3FN operands).
 */
public final class ScaleCopies {
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private ScaleCopies() {
    }

    public static void main(String[] args) {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 512;
        CpuBackend backend = new CpuBackend();
        SplittableRandom random = new SplittableRandom(1);
        float[] data = new float[n * n];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) random.nextGaussian();
        }
        Tensor x = Tensor.of(data, n, n);
        System.out.printf(Locale.ROOT, "%-14s %12s %20s %20s %20s%n", "granularity", "scale bytes", "quantize B/call",
                "dequantize B/call", "gemm B/call");
        for (ScalingGranularity g : ScalingGranularity.values()) {
            QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, g, 1);
            // 1x128 activations pair with 128x128 weights, as in the blockwise recipe
            QuantSpec weights = g == ScalingGranularity.TILE_1X128
                    ? QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.BLOCK_128X128, 1) : spec;
            Float8Tensor q = backend.quantize(x, spec);
            Float8Tensor w = backend.quantize(x, weights);
            long quantize = bytesPerCall(() -> backend.release(backend.quantize(x, spec)), 2000);
            long dequantize = bytesPerCall(() -> backend.release(backend.dequantize(q)), 200);
            long gemm = bytesPerCall(() -> backend.release(backend.gemm(q, w)), 50);
            System.out.printf(Locale.ROOT, "%-14s %12d %20d %20d %20d%n", g, 4L * q.scaleRows() * q.scaleCols(), quantize,
                    dequantize, gemm);
        }
    }

    /** Allocated bytes per call in steady state: calls runs first (warm-up, pools filled), then counts calls more. */
    private static long bytesPerCall(Runnable call, int calls) {
        for (int i = 0; i < calls; i++) {
            call.run();
        }
        long before = THREADS.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < calls; i++) {
            call.run();
        }
        return (THREADS.getCurrentThreadAllocatedBytes() - before) / calls;
    }
}
