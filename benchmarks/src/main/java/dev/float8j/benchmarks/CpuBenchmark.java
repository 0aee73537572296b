package dev.float8j.benchmarks;

import dev.float8j.plan.DelayedScaling;
import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.quant.AmaxHistory;
import dev.float8j.runtime.cpu.CpuBackend;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.function.IntConsumer;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Speed of the CPU backend, printed as CSV: {@code op,granularity,M,K,N,threads,gflops,ceiling_gflops,ratio}
 * (ratio = gflops / ceiling_gflops).
 *
 * <p>Gemm rows ({@code op} = gemm): GFLOP/s of 2*M*K*N over the best of several runs, against the
 * FloatVector FMA ceiling (register-resident FMAs, no memory) on as many threads, its samples taken alternately
 * with the kernel's.
 * Quantization rows ({@code op} = quantize_axis1 and so on, M x K = the tensor, N = 0): the gflops column
 * holds GB/s (input bytes read + codes and scales written, once each) and ceiling_gflops holds the GB/s of
 * a plain array copy (bytes read + written) of the same input on as many threads, sampled alternately with it.
 * They run in steady state, each call first releasing the previous result (whose arrays the backend then
 * reuses), as a training step does; rows whose op ends in {@code _alloc} run the same kernel with a new
 * result array each call. Tensorwise adds the delayed-scaling casts ({@code quantize_delayed_axis1},
 * {@code quantize_both_axes_delayed}: the scale from an amax history, x read once), bytes counted alike.
 *
 * <p>Arguments (all optional): {@code --sizes=512,1024,2048,4096,2048x1024x4096,2048x4096x1024}
 * {@code --ops=f32,tensorwise,rowwise,blockwise,mx,quant} {@code --threads=2,1} {@code --reps=5}
 * {@code --clock=wall|cpu} {@code --peer=torch} {@code --onednn}. The default clock is wall time. {@code --clock=cpu} divides the process's CPU
 * time by the thread count instead: on a machine shared with other work, where the threads are
 * descheduled part of the time, it estimates what an idle machine would show (ceiling included).
 * {@code --peer=torch} also times PyTorch's CPU matmul for every size (rows with op {@code torch_mm}, granularity
 * F32 and BF16, against the FMA ceiling like the gemm rows); it needs the classes of the {@code torch-peer}
 * Maven profile on the classpath, which {@code benchmarks/cpu.sh --peer=torch} builds and adds.
 * {@code --onednn} also times every FP8 gemm through the CPU backend's oneDNN BF16 matmul path, with an F32 result
 * (rows with op {@code gemm_onednn}) and with a BF16 one ({@code gemm_onednn_bf16}, as PyTorch's BF16 matmul writes),
 * its samples taken alternately with the same gemm on the Vector API path and the ceiling, so the gemm rows of a
 * case are comparable; it needs oneDNN (the {@code org.bytedeco:dnnl} and {@code opencl}
 * jars, classifier linux-x86_64) on the classpath, which {@code benchmarks/cpu.sh --onednn} adds, and forces the
 * path on even where oneDNN would emulate BF16 (the path it took goes to stderr).
 */
public final class CpuBenchmark {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    private static boolean cpuClock;
    private static int clockThreads = 1;

    private CpuBenchmark() {
    }

    public static void main(String[] args) {
        List<int[]> sizes = new ArrayList<>();
        List<String> ops = List.of("f32", "tensorwise", "rowwise", "blockwise", "mx", "quant");
        int[] threadCounts = {Runtime.getRuntime().availableProcessors()};
        int reps = 5;
        MatmulPeer peer = null;
        boolean onednn = false;
        for (String arg : args) {
            String[] kv = arg.split("=", 2);
            switch (kv[0]) {
                case "--sizes" -> {
                    for (String s : kv[1].split(",")) {
                        String[] d = s.split("x");
                        sizes.add(d.length == 1 ? new int[] {Integer.parseInt(d[0]), Integer.parseInt(d[0]), Integer.parseInt(d[0])}
                                : new int[] {Integer.parseInt(d[0]), Integer.parseInt(d[1]), Integer.parseInt(d[2])});
                    }
                }
                case "--ops" -> ops = List.of(kv[1].split(","));
                case "--threads" -> threadCounts = Arrays.stream(kv[1].split(",")).mapToInt(Integer::parseInt).toArray();
                case "--reps" -> reps = Integer.parseInt(kv[1]);
                case "--clock" -> cpuClock = switch (kv[1]) {
                    case "cpu" -> true;
                    case "wall" -> false;
                    default -> throw new IllegalArgumentException("--clock is wall or cpu, not " + kv[1]);
                };
                case "--peer" -> peer = peer(kv[1]);
                case "--onednn" -> onednn = true;
                default -> throw new IllegalArgumentException("unknown argument " + arg
                        + " (known: --sizes=512,2048x1024x4096 --ops=f32,tensorwise,rowwise,blockwise,mx,quant"
                        + " --threads=2,1 --reps=5 --clock=wall|cpu --peer=torch --onednn)");
            }
        }
        if (sizes.isEmpty()) {
            for (int[] s : new int[][] {{512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048}, {4096, 4096, 4096},
                    {2048, 1024, 4096}, {2048, 4096, 1024}}) {
                sizes.add(s);
            }
        }
        System.out.println("op,granularity,M,K,N,threads,gflops,ceiling_gflops,ratio");
        for (int threads : threadCounts) {
            CpuBackend backend = backend(threads, "off");
            CpuBackend matrixUnit = onednn ? backend(threads, "on") : null;
            if (matrixUnit != null) {
                System.err.println("oneDNN backend, " + threads + " threads: " + matrixUnit.gemmPath());
            }
            clockThreads = threads;
            Pool pool = new Pool(threads);
            if (peer != null) {
                peer.threads(threads);
            }
            for (int[] s : sizes) {
                if (peer != null) {
                    for (String dtype : peer.dtypes()) {
                        peerCase(peer, pool, dtype, s[0], s[1], s[2], reps);
                    }
                }
                for (String op : ops) {
                    if (op.equals("quant")) {
                        quantCases(backend, pool, s[0], s[1], reps);
                    } else {
                        gemmCase(backend, matrixUnit, pool, op, s[0], s[1], s[2], reps);
                    }
                }
            }
            pool.close();
        }
    }

    /** A CPU backend on threads threads with -Dfloat8j.onednn=mode (read when the backend is made). */
    private static CpuBackend backend(int threads, String mode) {
        String before = System.getProperty("float8j.onednn");
        System.setProperty("float8j.onednn", mode);
        try {
            return new CpuBackend(threads);
        } finally {
            if (before == null) {
                System.clearProperty("float8j.onednn");
            } else {
                System.setProperty("float8j.onednn", before);
            }
        }
    }

    private static void row(String op, String granularity, int m, int k, int n, int threads, double value,
            double ceiling) {
        System.out.println(String.format(Locale.ROOT, "%s,%s,%d,%d,%d,%d,%.1f,%.1f,%.2f", op, granularity, m, k, n,
                threads, value, ceiling, value / ceiling));
        System.out.flush();
    }

    private static String granularityName(String op) {
        return switch (op) {
            case "tensorwise" -> "TENSORWISE";
            case "rowwise" -> "ROWWISE";
            case "blockwise" -> "TILE_1X128*BLOCK_128X128";
            case "mx" -> "MX_1X32";
            default -> throw new IllegalArgumentException("unknown op " + op);
        };
    }

    private static Tensor random(int rows, int cols, long seed) {
        Random r = new Random(seed);
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return Tensor.of(v, rows, cols);
    }

    /**
     * The output gemm y = x.W^T with x [M,K] and W [N,K], both contracted along axis 1, and the FMA ceiling, their
     * samples taken alternately: on a shared machine the CPU time available changes from second to second, and
     * alternating lets both see the same. With matrixUnit (the oneDNN path forced on) an FP8 gemm is also timed
     * through it, alternately with the other two.
     */
    private static void gemmCase(CpuBackend backend, CpuBackend matrixUnit, Pool pool, String op, int m, int k, int n,
            int reps) {
        Tensor x = random(m, k, 1);
        Tensor w = random(n, k, 2);
        Runnable run;
        Runnable onednnRun = null;
        Runnable onednnBf16Run = null;
        if (op.equals("f32")) {
            run = () -> backend.matmul(x, 1, w, 1);
        } else {
            ScalingGranularity ga;
            ScalingGranularity gb;
            switch (op) {
                case "tensorwise" -> { ga = ScalingGranularity.TENSORWISE; gb = ga; }
                case "rowwise" -> { ga = ScalingGranularity.ROWWISE; gb = ga; }
                case "blockwise" -> { ga = ScalingGranularity.TILE_1X128; gb = ScalingGranularity.BLOCK_128X128; }
                case "mx" -> { ga = ScalingGranularity.MX_1X32; gb = ga; }
                default -> throw new IllegalArgumentException("unknown op " + op);
            }
            Float8Tensor qx = backend.quantize(x, QuantSpec.of(Fp8Format.E4M3FN, ga, 1));
            Float8Tensor qw = backend.quantize(w, QuantSpec.of(Fp8Format.E4M3FN, gb, 1));
            // each result is released, as a layer releases its temporaries (and PyTorch's peer frees its own), so that
            // the timing is the steady state, where a result's array comes back from the backend's pool
            run = () -> backend.release(backend.gemm(qx, qw));
            if (matrixUnit != null) {
                onednnRun = () -> matrixUnit.release(matrixUnit.gemm(qx, qw));
                // a BF16 result, as PyTorch's BF16 matmul writes: oneDNN rounds the scaled sums itself
                onednnBf16Run = () -> matrixUnit.release(matrixUnit.gemm(qx, qw, DType.BF16));
            }
        }
        float[] sink = new float[pool.threads * SPECIES.length()];
        Runnable ceiling = () -> pool.run(t -> fmaLoop(CEILING_ITERATIONS, sink, t * SPECIES.length()));
        double[] seconds = onednnRun == null ? bestAlternating(reps, run, ceiling)
                : bestAlternating(reps, run, ceiling, onednnRun, onednnBf16Run);
        double ceilingFlops = 2.0 * 12 * SPECIES.length() * (double) CEILING_ITERATIONS * pool.threads;
        String granularity = op.equals("f32") ? "F32" : granularityName(op);
        double flops = 2.0 * m * k * n;
        row("gemm", granularity, m, k, n, pool.threads, flops / seconds[0] / 1e9, ceilingFlops / seconds[1] / 1e9);
        if (onednnRun != null) {
            row("gemm_onednn", granularity, m, k, n, pool.threads, flops / seconds[2] / 1e9,
                    ceilingFlops / seconds[1] / 1e9);
            row("gemm_onednn_bf16", granularity, m, k, n, pool.threads, flops / seconds[3] / 1e9,
                    ceilingFlops / seconds[1] / 1e9);
        }
    }

    /** The peer library named on the command line (its class comes from an optional build profile). */
    private static MatmulPeer peer(String name) {
        String className = switch (name) {
            case "torch" -> "dev.float8j.benchmarks.TorchCpuPeer";
            default -> throw new IllegalArgumentException("--peer is torch, not " + name);
        };
        try {
            return (MatmulPeer) Class.forName(className).getDeclaredConstructor().newInstance();
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("--peer=" + name + " needs " + className
                    + ": run benchmarks/cpu.sh --peer=" + name + ", which builds the torch-peer Maven profile");
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot create " + className + ": " + e, e);
        }
    }

    /** The peer's y = x.W^T in one dtype, its samples taken alternately with the FMA ceiling's. */
    private static void peerCase(MatmulPeer peer, Pool pool, String dtype, int m, int k, int n, int reps) {
        Runnable run = peer.prepare(dtype, m, k, n);
        float[] sink = new float[pool.threads * SPECIES.length()];
        Runnable ceiling = () -> pool.run(t -> fmaLoop(CEILING_ITERATIONS, sink, t * SPECIES.length()));
        double[] seconds = bestAlternating(reps, run, ceiling);
        double ceilingFlops = 2.0 * 12 * SPECIES.length() * (double) CEILING_ITERATIONS * pool.threads;
        row(peer.name(), dtype, m, k, n, pool.threads, 2.0 * m * k * n / seconds[0] / 1e9,
                ceilingFlops / seconds[1] / 1e9);
    }

    /** Each quantization kernel against a copy of the same F32 tensor, their samples taken alternately. */
    private static void quantCases(CpuBackend backend, Pool pool, int rows, int cols, int reps) {
        Tensor x = random(rows, cols, 3);
        long elements = (long) rows * cols;
        float[] copy = new float[rows * cols];
        float[] src = x.data();
        Runnable copyRun = () -> pool.run(t -> {
            int from = (int) (elements * t / pool.threads);
            int to = (int) (elements * (t + 1) / pool.threads);
            System.arraycopy(src, from, copy, from, to - from);
        });
        double copyBytes = 8.0 * elements;
        for (ScalingGranularity g : ScalingGranularity.values()) {
            for (int axis = 1; axis >= 0; axis--) {
                QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, g, axis);
                Float8Tensor[] last = {backend.quantize(x, spec)};
                double bytes = 5.0 * elements + 4.0 * last[0].scales().length;
                quantRows("quantize_axis" + axis, g, rows, cols, pool.threads, bytes, copyBytes, reps, copyRun, () -> {
                    backend.release(last[0]);
                    last[0] = backend.quantize(x, spec);
                }, () -> backend.quantize(x, spec));
            }
            QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, g, 1);
            Float8Tensor[][] both = {backend.quantizeBothAxes(x, spec, spec.withAxis(0))};
            double bothBytes = 6.0 * elements + 4.0 * (both[0][0].scales().length + both[0][1].scales().length);
            quantRows("quantize_both_axes", g, rows, cols, pool.threads, bothBytes, copyBytes, reps, copyRun, () -> {
                backend.release(both[0][0]);
                backend.release(both[0][1]);
                both[0] = backend.quantizeBothAxes(x, spec, spec.withAxis(0));
            }, () -> backend.quantizeBothAxes(x, spec, spec.withAxis(0)));
            if (g == ScalingGranularity.TENSORWISE) {
                delayedQuantRows(backend, pool, x, rows, cols, reps, copyRun, copyBytes);
            }
            Float8Tensor q = both[0][0];
            double deqBytes = 5.0 * elements + 4.0 * q.scales().length;
            Tensor[] values = {backend.dequantize(q)};
            quantRows("dequantize", g, rows, cols, pool.threads, deqBytes, copyBytes, reps, copyRun, () -> {
                backend.release(values[0]);
                values[0] = backend.dequantize(q);
            }, () -> backend.dequantize(q));
        }
    }

    /**
     * Delayed scaling's casts (one read of x with the scale a history gives, committing each cast's amax as a layer
     * does): quantize_delayed_axis1 and quantize_both_axes_delayed, bytes counted as their current-scaling rows count
     * them, so that the GB/s compare.
     */
    private static void delayedQuantRows(CpuBackend backend, Pool pool, Tensor x, int rows, int cols, int reps,
            Runnable copyRun, double copyBytes) {
        long elements = (long) rows * cols;
        QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1)
                .withDelayedScaling(DelayedScaling.maxOfLast(16));
        AmaxHistory history = backend.newAmaxHistory(spec.delayed());
        Float8Tensor[] last = {backend.quantizeDelayed(x, spec, history)};
        history.commit();
        quantRows("quantize_delayed_axis1", ScalingGranularity.TENSORWISE, rows, cols, pool.threads, 5.0 * elements + 4,
                copyBytes, reps, copyRun, () -> {
                    backend.release(last[0]);
                    last[0] = backend.quantizeDelayed(x, spec, history);
                    history.commit();
                }, () -> {
                    backend.quantizeDelayed(x, spec, history);
                    history.commit();
                });
        Float8Tensor[][] both = {backend.quantizeBothAxesDelayed(x, spec, spec.withAxis(0), history)};
        history.commit();
        quantRows("quantize_both_axes_delayed", ScalingGranularity.TENSORWISE, rows, cols, pool.threads,
                6.0 * elements + 8, copyBytes, reps, copyRun, () -> {
                    backend.release(both[0][0]);
                    backend.release(both[0][1]);
                    both[0] = backend.quantizeBothAxesDelayed(x, spec, spec.withAxis(0), history);
                    history.commit();
                }, () -> {
                    backend.quantizeBothAxesDelayed(x, spec, spec.withAxis(0), history);
                    history.commit();
                });
    }

    /**
     * Two rows for one kernel, each against the copy, the three sampled alternately: op in steady state (each
     * call first releases the previous result, as a training step does, so its arrays are reused), and
     * op_alloc, where every result is a new array.
     */
    private static void quantRows(String op, ScalingGranularity g, int rows, int cols, int threads, double bytes,
            double copyBytes, int reps, Runnable copyRun, Runnable steady, Runnable allocating) {
        double[] seconds = bestAlternating(reps, steady, allocating, copyRun);
        row(op, g.name(), rows, cols, 0, threads, bytes / seconds[0] / 1e9, copyBytes / seconds[2] / 1e9);
        row(op + "_alloc", g.name(), rows, cols, 0, threads, bytes / seconds[1] / 1e9, copyBytes / seconds[2] / 1e9);
    }

    /**
     * Best seconds per run of each of runs over reps samples each, taken alternately (a, b, a, b, ...) after all
     * are warmed up. Each sample repeats its run enough times to last about 0.2 s, so that the clock's
     * resolution does not matter.
     */
    private static double[] bestAlternating(int reps, Runnable... runs) {
        int[] inner = new int[runs.length];
        for (int i = 0; i < runs.length; i++) {
            inner[i] = (int) Math.max(1, Math.ceil(0.2 / warmUp(runs[i])));
        }
        double[] best = new double[runs.length];
        Arrays.fill(best, Double.MAX_VALUE);
        for (int rep = 0; rep < reps; rep++) {
            for (int i = 0; i < runs.length; i++) {
                long t0 = now();
                for (int j = 0; j < inner[i]; j++) {
                    runs[i].run();
                }
                best[i] = Math.min(best[i], (now() - t0) / 1e9 / inner[i]);
            }
        }
        return best;
    }

    /**
     * Runs run until it is warm (JIT compiled, pages touched) and returns its fastest single run in seconds.
     * Warm up for at least half a second: the first FP8 case also pays for compiling (and, as more operand
     * kinds show up, recompiling) the packing code. The first call of a kernel runs interpreted, where the
     * Vector API is orders of magnitude slower, so keep warming up (up to 10 s) while runs still get more than
     * 20% faster.
     */
    private static double warmUp(Runnable run) {
        long start = System.nanoTime();
        int warmRuns = 0;
        double once = Double.MAX_VALUE;
        double previousBest = Double.MAX_VALUE;
        while (warmRuns < 10 || System.nanoTime() - start < 500_000_000L
                || (once < 0.8 * previousBest && System.nanoTime() - start < 10_000_000_000L)) {
            long w0 = System.nanoTime();
            run.run();
            double t = Math.max(1e-6, (System.nanoTime() - w0) / 1e9);
            if (warmRuns % 5 == 4) {
                previousBest = once;
            }
            once = Math.min(once, t);
            warmRuns++;
        }
        return once;
    }

    /** Nanoseconds of wall time, or of process CPU time per benchmark thread (see --clock). */
    private static long now() {
        if (!cpuClock) {
            return System.nanoTime();
        }
        var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
                .getOperatingSystemMXBean();
        return os.getProcessCpuTime() / clockThreads;
    }

    /**
     * FloatVector FMAs on 12 independent register accumulators (enough to cover the FMA latency), no memory
     * traffic, on every thread of the pool at once: the most the gemm microkernel could reach. One run of the
     * ceiling does this many iterations per thread (a few milliseconds).
     */
    private static final int CEILING_ITERATIONS = 2_000_000;

    private static void fmaLoop(int iterations, float[] sink, int off) {
        FloatVector m = FloatVector.broadcast(SPECIES, 0.999999f);
        FloatVector a = FloatVector.broadcast(SPECIES, 1e-7f);
        FloatVector c0 = FloatVector.broadcast(SPECIES, 1f), c1 = c0.add(1), c2 = c0.add(2), c3 = c0.add(3);
        FloatVector c4 = c0.add(4), c5 = c0.add(5), c6 = c0.add(6), c7 = c0.add(7);
        FloatVector c8 = c0.add(8), c9 = c0.add(9), c10 = c0.add(10), c11 = c0.add(11);
        for (int i = 0; i < iterations; i++) {
            c0 = c0.fma(m, a); c1 = c1.fma(m, a); c2 = c2.fma(m, a); c3 = c3.fma(m, a);
            c4 = c4.fma(m, a); c5 = c5.fma(m, a); c6 = c6.fma(m, a); c7 = c7.fma(m, a);
            c8 = c8.fma(m, a); c9 = c9.fma(m, a); c10 = c10.fma(m, a); c11 = c11.fma(m, a);
        }
        c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11)
                .intoArray(sink, off);
    }

    /** A fixed set of threads that run one body together, for the ceiling and the copy. */
    private static final class Pool {
        final int threads;
        private final java.util.concurrent.ExecutorService executor;

        Pool(int threads) {
            this.threads = threads;
            this.executor = java.util.concurrent.Executors.newFixedThreadPool(threads, r -> {
                Thread t = new Thread(r, "benchmark");
                t.setDaemon(true);
                return t;
            });
        }

        void run(IntConsumer body) {
            CountDownLatch done = new CountDownLatch(threads);
            for (int t = 0; t < threads; t++) {
                int index = t;
                executor.execute(() -> {
                    try {
                        body.accept(index);
                    } finally {
                        done.countDown();
                    }
                });
            }
            try {
                done.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }

        void close() {
            executor.shutdown();
        }
    }
}
