package dev.float8j.benchmarks;

import dev.float8j.benchmarks.layers.RowwiseRequantize;
import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.Gemm;
import dev.float8j.plan.Operand;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.cpu.CpuBackend;
import dev.float8j.runtime.debug.Float8Debug;
import dev.float8j.runtime.debug.QuantizationObserver;
import dev.float8j.runtime.debug.Selection;
import dev.float8j.runtime.debug.Site;
import dev.float8j.runtime.debug.StatisticsObserver;
import dev.float8j.runtime.nn.Float8Layers;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.Quantize;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.Locale;

/**
 * What FP8 debugging costs when it is off. Two measurements, side by side in one run, rounds alternating so
 * drift affects both; the fastest round of each is reported (the one least disturbed by other load on a shared
 * machine), on one thread of the CPU backend so that thread scheduling adds no noise:
 * <ol>
 *   <li>one quantization of a tiny tensor (where a fixed overhead would show most) through {@link Quantize}, with
 *       no observer, against the backend's quantize called directly: time and bytes allocated per call;</li>
 *   <li>forward + backward of a generated FP8 layer with debugging off, with an observer installed that selects
 *       nothing, and with the statistics logger on every quantization (what turning it on costs).</li>
 * </ol>
 */
public final class DebugOverhead {
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private DebugOverhead() {
    }

    /** Runs on the CPU backend, or on the reference backend with the argument "reference". */
    public static void main(String[] args) {
        if (!(args.length > 0 && args[0].equals("reference"))) {
            Backends.use(new CpuBackend(1));
        }
        Backend backend = Backends.current();
        System.out.printf(Locale.ROOT, "backend %s, fastest of 15 alternating rounds%n", backend.name());
        hookCost(backend);
        layerCost();
    }

    private static void hookCost(Backend backend) {
        Init.seed(1);
        Tensor x = Tensor.of(Init.normal(4 * 32, 1f), 4, 32);
        QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 1);
        Site site = new Site("blocks.0.up", Gemm.OUTPUT, Operand.INPUT);
        Float8Debug.observe(null);
        Runnable direct = () -> backend.quantize(x, spec);
        Runnable hooked = () -> Quantize.quantize(backend, x, spec, site);
        int calls = 200_000;
        run(direct, calls);
        run(hooked, calls);
        double[] directNs = new double[15];
        double[] hookedNs = new double[15];
        for (int r = 0; r < directNs.length; r++) {
            directNs[r] = run(direct, calls);
            hookedNs[r] = run(hooked, calls);
        }
        double directBytes = allocatedPerCall(direct, calls);
        double hookedBytes = allocatedPerCall(hooked, calls);
        System.out.printf(Locale.ROOT, "quantize [4, 32] rowwise: backend.quantize %.1f ns, Quantize.quantize (debug off) %.1f ns; "
                + "ratio %.3f; allocated %.1f vs %.1f bytes per call%n", fastest(directNs), fastest(hookedNs),
                fastest(hookedNs) / fastest(directNs), directBytes, hookedBytes);
    }

    private static void layerCost() {
        int in = 256;
        int out = 256;
        int rows = 128;
        Init.seed(1);
        Linear layer = Float8Layers.create(RowwiseRequantize.class, in, out);
        Tensor x = Tensor.of(Init.normal(rows * in, 1f), rows, in);
        Tensor dy = Tensor.of(Init.normal(rows * out, 1e-3f), rows, out);
        Runnable step = () -> {
            layer.forward(x);
            layer.backward(dy);
        };
        QuantizationObserver selectsNothing = new StatisticsObserver(Selection.all().modules("no.such.module"));
        QuantizationObserver statsOnAll = new StatisticsObserver(Selection.all());
        int calls = 20;
        Float8Debug.observe(statsOnAll);
        run(step, calls);
        Float8Debug.observe(null);
        run(step, calls);
        double[] off = new double[15];
        double[] idle = new double[15];
        double[] on = new double[15];
        for (int r = 0; r < off.length; r++) {
            Float8Debug.observe(null);
            off[r] = run(step, calls);
            Float8Debug.observe(selectsNothing);
            idle[r] = run(step, calls);
            Float8Debug.observe(statsOnAll);
            on[r] = run(step, calls);
        }
        Float8Debug.observe(null);
        System.out.printf(Locale.ROOT, "generated rowwise/REQUANTIZE layer, x [%d, %d], W [%d, %d], forward + backward: debug off %.1f us, "
                + "observer selecting nothing %.1f us (ratio %.3f), statistics on all 6 quantizations %.1f us (ratio %.2f)%n", rows, in,
                out, in, fastest(off) / 1e3, fastest(idle) / 1e3, fastest(idle) / fastest(off), fastest(on) / 1e3,
                fastest(on) / fastest(off));
    }

    /** Nanoseconds per call. */
    private static double run(Runnable r, int calls) {
        long start = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            r.run();
        }
        return (System.nanoTime() - start) / (double) calls;
    }

    private static double allocatedPerCall(Runnable r, int calls) {
        long before = THREADS.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < calls; i++) {
            r.run();
        }
        return (THREADS.getCurrentThreadAllocatedBytes() - before) / (double) calls;
    }

    private static double fastest(double[] values) {
        return Arrays.stream(values).min().orElseThrow();
    }
}
