package dev.float8j.benchmarks.cuda;

import dev.float8j.annotations.Backward;
import dev.float8j.annotations.Recipe;
import dev.float8j.plan.DelayedScaling;
import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Float8Recipes;
import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.Gemm;
import dev.float8j.plan.Operand;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.Recipes;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.BFloat16;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.cuda.CudaBackend;
import dev.float8j.runtime.cuda.DeviceFloat8;
import dev.float8j.runtime.cuda.DeviceScope;
import dev.float8j.runtime.cuda.DeviceTensor;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.WeightCastReuse;
import dev.float8j.runtime.quant.AmaxHistory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Times forward+backward of one FP8 linear layer (y = x·Wᵀ, x [M,K], W [N,K], dY [M,N], all BF16) against the
 * same layer in BF16 (three cuBLASLt BF16 gemms), side by side in one run, on the device API: casts as the
 * recipe and backward policy say, then three gemms. Prints CSV
 * {@code recipe,policy,M,K,N,fp8_ms,bf16_ms,speedup,fp8_alternating_ms,bf16_alternating_ms} (each step alone, back to
 * back, then the two timed in alternating samples),
 * then the breakdown of cast time against gemm time, then the cast kernels alone.
 * Arguments: {@code --quick} (only M=16384, K=N=8192), {@code --fast-accum-all} (fast accumulation in the two
 * backward gemms too; by default only the output gemm uses it, as torchao does), {@code --layer-only} (only the
 * Float8Linear sections: the layer against the raw step, and weight-cast reuse under gradient accumulation),
 * {@code --casts-only} (only the cast kernels alone), {@code --kernels M,K,N ...} (only each kernel's GPU time in the
 * tensorwise, rowwise and blockwise BOTH_AXES steps at those shapes), {@code --shapes M,K,N ...} (only the table and its
 * breakdown, at those shapes), {@code --gemms-only M,K,N ...} (each recipe's three gemms without its casts, beside its
 * step), {@code --energy M,K,N ...} (each part of the tensorwise step held for seconds, for power_windows.py).
 */
public final class GpuLinearBenchmark {
    /** The recipes timed, as the annotations name them; their granularities come from the one recipe table. */
    private static final Recipe[] RECIPES = {Recipe.TENSORWISE, Recipe.ROWWISE, Recipe.ROWWISE_GW_HP, Recipe.BLOCKWISE};

    private final CudaBackend cuda;
    private final boolean fastAccumAll;
    private final CudaBackend.Event[] events;
    private final List<String> breakdown = new ArrayList<>();
    private int eventCount;
    /** {category, start event, end event}: category 0 is a cast, 1, 2, 3 the output, grad_input, grad_weight gemm. */
    private final List<int[]> opSlots = new ArrayList<>();
    private boolean tracing;
    private long castBytes;

    private GpuLinearBenchmark(CudaBackend cuda, boolean fastAccumAll) {
        this.cuda = cuda;
        this.fastAccumAll = fastAccumAll;
        events = new CudaBackend.Event[64];
        for (int i = 0; i < events.length; i++) {
            events[i] = cuda.newEvent();
        }
    }

    public static void main(String[] args) {
        List<String> options = Arrays.asList(args);
        CudaBackend cuda = CudaBackend.create();
        GpuLinearBenchmark bench = new GpuLinearBenchmark(cuda, options.contains("--fast-accum-all"));
        System.out.println("# device: " + cuda.deviceName() + ", fast accumulation: output gemm"
                + (bench.fastAccumAll ? " and backward gemms" : " only"));
        if (options.contains("--delayed-only")) {
            bench.delayedScaling(16384, 8192, 8192);
            bench.delayedScaling(16384, 4096, 14336);
            return;
        }
        if (options.contains("--kernels")) {
            for (int[] mkn : shapesAfter(options, "--kernels")) {
                bench.kernelTimes(Recipe.TENSORWISE, Backward.BOTH_AXES, mkn[0], mkn[1], mkn[2]);
                bench.kernelTimes(Recipe.ROWWISE, Backward.BOTH_AXES, mkn[0], mkn[1], mkn[2]);
                bench.kernelTimes(Recipe.BLOCKWISE, Backward.BOTH_AXES, mkn[0], mkn[1], mkn[2]);
            }
            return;
        }
        if (options.contains("--energy")) {
            for (int[] mkn : shapesAfter(options, "--energy")) {
                bench.energyWindows(mkn[0], mkn[1], mkn[2]);
            }
            return;
        }
        if (options.contains("--casts-only")) {
            bench.castKernels(16384, 8192);
            return;
        }
        if (options.contains("--layer-only")) {
            bench.layerOnDevice(16384, 8192, 8192);
            bench.weightCastReuse(16384, 8192, 8192);
            return;
        }
        if (options.contains("--gemms-only")) {
            System.out.println("# each recipe's three BOTH_AXES gemms alone, on operands cast before timing, beside its"
                    + " whole step and float8j's BF16 step (each alone, back to back)");
            System.out.println("recipe,M,K,N,gemms_ms,step_ms,bf16_ms,bf16_over_gemms,bf16_over_step,copies_ms,"
                    + "gemms_between_copies_ms,slowdown_ms");
            for (int[] mkn : shapesAfter(options, "--gemms-only")) {
                bench.gemmsOnly(mkn[0], mkn[1], mkn[2]);
            }
            return;
        }
        if (options.contains("--shapes")) {
            bench.table(shapesAfter(options, "--shapes"));
            return;
        }
        int m = 16384;
        int[][] kn = options.contains("--quick") ? new int[][] {{8192, 8192}}
                : new int[][] {{4096, 4096}, {4096, 14336}, {14336, 4096}, {8192, 8192}};
        List<int[]> shapes = new ArrayList<>();
        for (int[] s : kn) {
            shapes.add(new int[] {m, s[0], s[1]});
        }
        if (!options.contains("--quick")) {
            shapes.add(new int[] {8192, 8192, 8192});
        }
        bench.table(shapes);
        System.out.println();
        bench.castKernels(16384, 8192);
        System.out.println();
        bench.layerOnDevice(16384, 8192, 8192);
        System.out.println();
        bench.weightCastReuse(16384, 8192, 8192);
        System.out.println();
        bench.delayedScaling(16384, 8192, 8192);
        System.out.println("# allocator: " + cuda.allocator().driverAllocations() + " driver allocations, "
                + cuda.allocator().bytesInUse() + " bytes in use at the end");
    }

    /** The M,K,N shapes that follow option among the arguments (to their end). */
    private static List<int[]> shapesAfter(List<String> options, String option) {
        return options.subList(options.indexOf(option) + 1, options.size()).stream()
                .map(s -> Arrays.stream(s.split(",")).mapToInt(Integer::parseInt).toArray()).toList();
    }

    /** The table of every recipe and policy at these shapes ({M, K, N} each), then its breakdown. */
    private void table(List<int[]> shapes) {
        System.out.println("recipe,policy,M,K,N,fp8_ms,bf16_ms,speedup,fp8_alternating_ms,bf16_alternating_ms");
        for (int[] s : shapes) {
            runShape(s[0], s[1], s[2]);
        }
        System.out.println();
        System.out.println("# breakdown: GPU time inside cast kernels and inside gemms, per step (events around each op);"
                + " host_enqueue_ms: time the host takes to queue one untraced FP8 step (median)");
        System.out.println("recipe,policy,M,K,N,host_enqueue_ms,cast_ms,gemm_ms,cast_GB_per_s,gemm_TFLOP_per_s,"
                + "output_TFLOP_per_s,grad_input_TFLOP_per_s,grad_weight_TFLOP_per_s");
        breakdown.forEach(System.out::println);
        breakdown.clear();
    }

    private DeviceTensor randomBf16(int rows, int cols, float std, long seed) {
        Random rnd = new Random(seed);
        short[] block = new short[1 << 20];
        for (int i = 0; i < block.length; i++) {
            block[i] = BFloat16.fromFloat((float) rnd.nextGaussian() * std);
        }
        short[] data = new short[rows * cols];
        for (int at = 0; at < data.length; at += block.length) {
            // shift the block each time so rows do not repeat with a short period
            int offset = rnd.nextInt(block.length);
            for (int i = 0; i < Math.min(block.length, data.length - at); i++) {
                data[at + i] = block[(i + offset) & (block.length - 1)];
            }
        }
        return cuda.upload(Tensor.ofBf16(data, rows, cols));
    }

    private void runShape(int m, int k, int n) {
        try (DeviceTensor x = randomBf16(m, k, 1f, 1); DeviceTensor w = randomBf16(n, k, 0.02f, 2);
                DeviceTensor dy = randomBf16(m, n, 1e-3f, 3)) {
            // The table's times are each step alone, back to back, as linear_pytorch.py and linear_fp8_pytorch.py time
            // PyTorch's steps: the BF16 step before any FP8 step, each FP8 step after its own warm-up. Under the power
            // cap a step alternating with another runs at the clock the pair leaves it: at K=N=8192 the BF16 step took
            // 9.2-9.7 ms alternating against 8.4-9.1 alone (calls 22-28), the FP8 steps moved by -3% to +2%. The
            // alternating pair is printed beside them, not used for the ratios.
            double bf16 = timeSteps(() -> bf16Step(x, w, dy));
            System.out.printf("# float8j BF16 step alone: M=%d K=%d N=%d %.3f ms%n", m, k, n, bf16);
            for (Recipe recipe : RECIPES) {
                for (Backward policy : Backward.values()) {
                    double fp8 = timeSteps(() -> fp8Step(recipe, policy, x, w, dy));
                    double[] paired = timeAlternating(() -> bf16Step(x, w, dy),
                            () -> fp8Step(recipe, policy, x, w, dy));
                    System.out.printf("%s,%s,%d,%d,%d,%.3f,%.3f,%.3f,%.3f,%.3f%n", csvName(recipe), policy, m, k, n,
                            fp8, bf16, bf16 / fp8, paired[1], paired[0]);
                    traceBreakdown(recipe, policy, m, k, n, x, w, dy, paired[2]);
                }
            }
        }
    }

    /** Steps run back to back between two events: the GPU is fed throughout, as in linear_pytorch.py's loop. */
    private static final int STEPS_PER_SAMPLE = 5;
    private static final int SAMPLES = 8;

    /**
     * Milliseconds per step of each of two programs, and the host's milliseconds to queue one step of the second:
     * {@link #SAMPLES} samples of each, alternating (a, b, a, b, ...) so that drifting GPU clocks touch both alike,
     * the fastest sample counting, as linear_pytorch.py takes the best of its repeats, so the three steps of a table
     * row are measured alike.
     */
    private double[] timeAlternating(Runnable a, Runnable b) {
        warmUp(a, b);
        double[] best = {Double.MAX_VALUE, Double.MAX_VALUE};
        double[] hostMs = new double[SAMPLES];
        for (int i = 0; i < SAMPLES; i++) {
            best[0] = Math.min(best[0], sample(a)[0]);
            double[] sb = sample(b);
            best[1] = Math.min(best[1], sb[0]);
            hostMs[i] = sb[1];
        }
        Arrays.sort(hostMs);
        return new double[] {best[0], best[1], hostMs[SAMPLES / 2]};
    }

    /** Milliseconds per step of one program, measured as {@link #timeAlternating} measures each of its two. */
    private double timeSteps(Runnable step) {
        warmUp(step);
        double best = Double.MAX_VALUE;
        for (int i = 0; i < SAMPLES; i++) {
            best = Math.min(best, sample(step)[0]);
        }
        return best;
    }

    /** Three steps of each program, then the GPU drained. */
    private void warmUp(Runnable... steps) {
        for (int i = 0; i < 3; i++) {
            for (Runnable step : steps) {
                step.run();
            }
        }
        cuda.synchronize();
    }

    /**
     * One sample: {@link #STEPS_PER_SAMPLE} steps queued back to back between two events. Returns the GPU's
     * milliseconds per step and the host's milliseconds to queue one.
     */
    private double[] sample(Runnable step) {
        cuda.record(events[0]);
        long start = System.nanoTime();
        for (int s = 0; s < STEPS_PER_SAMPLE; s++) {
            step.run();
        }
        double hostMs = (System.nanoTime() - start) / 1e6 / STEPS_PER_SAMPLE;
        cuda.record(events[1]);
        return new double[] {cuda.elapsedMillis(events[0], events[1]) / STEPS_PER_SAMPLE, hostMs};
    }

    /**
     * Every kernel and cuBLASLt call of one FP8 step, timed by events ({@link CudaBackend#startKernelTimes()}), after
     * warm-up: GPU milliseconds per step by kernel, to set beside a profile of the Python peer's step at the same
     * shape (linear_fp8_pytorch.py --profile).
     */
    private void kernelTimes(Recipe recipe, Backward policy, int m, int k, int n) {
        int steps = 3;
        try (DeviceTensor x = randomBf16(m, k, 1f, 1); DeviceTensor w = randomBf16(n, k, 0.02f, 2);
                DeviceTensor dy = randomBf16(m, n, 1e-3f, 3)) {
            System.out.printf("# float8j %s %s step, untimed: %.3f ms; kernel times summed over %d steps (M=%d K=%d"
                    + " N=%d):%n", csvName(recipe), policy, timeSteps(() -> fp8Step(recipe, policy, x, w, dy)), steps,
                    m, k, n);
            cuda.startKernelTimes();
            for (int i = 0; i < steps; i++) {
                fp8Step(recipe, policy, x, w, dy);
            }
            System.out.print(cuda.stopKernelTimes().table(30));
        }
    }

    private void traceBreakdown(Recipe recipe, Backward policy, int m, int k, int n, DeviceTensor x, DeviceTensor w,
            DeviceTensor dy, double hostMs) {
        double cast = 0;
        double[] gemms = new double[4];  // by category 1..3
        int reps = 3;
        long bytes = 0;
        for (int rep = 0; rep < reps; rep++) {
            // A BF16 step queued first keeps the GPU busy (2-10 ms at these shapes, more than the host needs to
            // enqueue the traced step) so that each op's window holds GPU time only: once the GPU drains its queue,
            // the host's work before a launch would count inside that op's window.
            bf16Step(x, w, dy);
            tracing = true;
            eventCount = 2;
            opSlots.clear();
            castBytes = 0;
            fp8Step(recipe, policy, x, w, dy);
            tracing = false;
            cuda.synchronize();
            for (int[] slot : opSlots) {
                double t = cuda.elapsedMillis(events[slot[1]], events[slot[2]]);
                if (slot[0] == 0) {
                    cast += t;
                } else {
                    gemms[slot[0]] += t;
                }
            }
            bytes = castBytes;
        }
        cast /= reps;
        double gemm = (gemms[1] + gemms[2] + gemms[3]) / reps;
        double flop = 2.0 * m * n * k;  // per gemm (grad_weight in BF16 for rowwise_gw_hp)
        breakdown.add(String.format("%s,%s,%d,%d,%d,%.3f,%.3f,%.3f,%.0f,%.0f,%.0f,%.0f,%.0f", csvName(recipe), policy,
                m, k, n, hostMs, cast, gemm, bytes / cast / 1e6, 3 * flop / gemm / 1e9, flop / (gemms[1] / reps) / 1e9,
                flop / (gemms[2] / reps) / 1e9, flop / (gemms[3] / reps) / 1e9));
    }

    private <T> T op(int category, java.util.function.Supplier<T> work) {
        if (!tracing) {
            return work.get();
        }
        int start = eventCount++;
        int end = eventCount++;
        cuda.record(events[start]);
        T result = work.get();
        cuda.record(events[end]);
        opSlots.add(new int[] {category, start, end});
        return result;
    }

    private void bf16Step(DeviceTensor x, DeviceTensor w, DeviceTensor dy) {
        try (DeviceTensor y = cuda.matmul(x, 1, w, 1, DType.BF16);
                DeviceTensor dx = cuda.matmul(dy, 1, w, 0, DType.BF16);
                DeviceTensor dw = cuda.matmul(dy, 0, x, 0, DType.BF16)) {
            // results are released to the allocator's cache at the end of the step
        }
    }

    private static String csvName(Recipe r) {
        return r.name().toLowerCase();
    }

    private static ScalingGranularity inputGranularity(Recipe r) {
        return Recipes.expand(Recipes.granularity(r), Operand.INPUT);
    }

    private static ScalingGranularity weightGranularity(Recipe r) {
        return Recipes.expand(Recipes.granularity(r), Operand.WEIGHT);
    }

    private static long hpBytesRead(DeviceTensor t, ScalingGranularity g) {
        // tensorwise and rowwise read the input twice: once for the amax, once for the cast
        int passes = g == ScalingGranularity.TENSORWISE || g == ScalingGranularity.ROWWISE ? 2 : 1;
        return passes * t.bytes();
    }

    private DeviceFloat8 quantize(DeviceTensor t, QuantSpec spec) {
        castBytes += hpBytesRead(t, spec.granularity()) + (long) t.rows() * t.cols();
        return op(0, () -> cuda.quantize(t, spec));
    }

    private DeviceFloat8[] both(DeviceTensor t, QuantSpec spec) {
        castBytes += hpBytesRead(t, spec.granularity()) + 2L * t.rows() * t.cols();
        return op(0, () -> cuda.quantizeBothAxes(t, spec.withAxis(1), spec.withAxis(0)));
    }

    /** REQUANTIZE's backward copy: transposeable granularities transpose exactly, the others round again. */
    private DeviceFloat8 requantize(DeviceFloat8 q, QuantSpec spec) {
        long elements = (long) q.rows() * q.cols();
        if (spec.granularity().transposeable() && spec.equals(q.spec().otherAxis())) {
            castBytes += 2 * elements;
            return op(0, () -> cuda.transpose(q));
        }
        int passes = spec.granularity() == ScalingGranularity.ROWWISE ? 2 : 1;
        castBytes += passes * elements + elements;
        return op(0, () -> cuda.requantize(q, spec));
    }

    private DeviceTensor gemm(int which, DeviceFloat8 a, DeviceFloat8 b, boolean fast) {
        return op(which, () -> cuda.gemm(a, b, DType.BF16, fast));
    }

    /**
     * What a recipe's step casts: x and W in E4M3, dY in E5M2 under tensorwise scaling and E4M3 otherwise, each along
     * 1; and whether grad_weight stays in BF16.
     */
    private record Specs(QuantSpec x, QuantSpec w, QuantSpec dy, boolean gradWeightHp) {
        static Specs of(Recipe recipe) {
            Fp8Format gradFormat = recipe == Recipe.TENSORWISE ? Fp8Format.E5M2 : Fp8Format.E4M3FN;
            return new Specs(QuantSpec.of(Fp8Format.E4M3FN, inputGranularity(recipe), 1),
                    QuantSpec.of(Fp8Format.E4M3FN, weightGranularity(recipe), 1),
                    QuantSpec.of(gradFormat, inputGranularity(recipe), 1),
                    Recipes.keepsHighPrecision(recipe, Gemm.GRAD_WEIGHT));
        }
    }

    private void fp8Step(Recipe recipe, Backward policy, DeviceTensor x, DeviceTensor w, DeviceTensor dy) {
        Specs specs = Specs.of(recipe);
        List<AutoCloseable> release = new ArrayList<>();
        // forward
        DeviceFloat8 x1;
        DeviceFloat8 x0 = null;
        if (policy == Backward.BOTH_AXES && !specs.gradWeightHp) {
            DeviceFloat8[] q = both(x, specs.x);
            x1 = q[0];
            x0 = q[1];
        } else {
            x1 = quantize(x, specs.x);
        }
        DeviceFloat8 w1;
        DeviceFloat8 w0 = null;
        if (policy == Backward.BOTH_AXES) {
            DeviceFloat8[] q = both(w, specs.w);
            w1 = q[0];
            w0 = q[1];
        } else {
            w1 = quantize(w, specs.w);
        }
        DeviceTensor y = gemm(1, x1, w1, true);
        // backward
        DeviceFloat8 dy1;
        DeviceFloat8 dy0 = null;
        if (specs.gradWeightHp) {
            dy1 = quantize(dy, specs.dy);
        } else {
            DeviceFloat8[] q = both(dy, specs.dy);
            dy1 = q[0];
            dy0 = q[1];
        }
        if (w0 == null) {
            w0 = policy == Backward.REQUANTIZE ? requantize(w1, specs.w.withAxis(0)) : quantize(w, specs.w.withAxis(0));
        }
        DeviceTensor dx = gemm(2, dy1, w0, fastAccumAll);
        DeviceTensor dw;
        if (specs.gradWeightHp) {
            dw = op(3, () -> cuda.matmul(dy, 0, x, 0, DType.BF16));
        } else {
            if (x0 == null) {
                x0 = policy == Backward.REQUANTIZE ? requantize(x1, specs.x.withAxis(0))
                        : quantize(x, specs.x.withAxis(0));
            }
            dw = gemm(3, dy0, x0, fastAccumAll);
        }
        release.addAll(Arrays.asList(x1, x0, w1, w0, dy1, dy0, y, dx, dw));
        for (AutoCloseable c : release) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
        }
    }

    /**
     * The library's own layer, {@code Float8Linear}, forward+backward on device tensors (parameters moved to the
     * GPU), against the raw FP8 step of the same recipe and policy above. The layer keeps an F32 master weight
     * (its casts read 4 bytes per weight element), returns y and dX in x's dtype (BF16 here, as the raw step)
     * and accumulates an F32 dW; the raw step reads a BF16 weight. Each layer step runs in a
     * {@link DeviceScope}, so its memory is reused the next step as the raw step's is.
     */
    private void layerOnDevice(int m, int k, int n) {
        System.out.println("# Float8Linear on device tensors (F32 master weight, BF16 x and dY in, BF16 y and dX out) against the raw FP8 step");
        System.out.println("recipe,policy,M,K,N,layer_ms,raw_fp8_ms,layer_over_raw");
        Backend previous = Backends.current();
        Backends.use(cuda);
        try (DeviceTensor x = randomBf16(m, k, 1f, 11); DeviceTensor w = randomBf16(n, k, 0.02f, 12);
                DeviceTensor dy = randomBf16(m, n, 1e-3f, 13)) {
            Tensor xOnDevice = cuda.toDevice(cuda.download(x));
            Tensor dyOnDevice = cuda.toDevice(cuda.download(dy));
            for (Recipe recipe : new Recipe[] {Recipe.TENSORWISE, Recipe.ROWWISE}) {
                Backward policy = Backward.BOTH_AXES;
                Float8Plan plan = Recipes.plan(recipe, policy);
                Float8Linear layer = new Float8Linear(k, n, plan);
                layer.moveTo(cuda);
                double layerMs = timeSteps(() -> {
                    try (DeviceScope step = cuda.openScope()) {
                        layer.forward(xOnDevice);
                        layer.backward(dyOnDevice);
                    }
                });
                double rawMs = timeSteps(() -> fp8Step(recipe, policy, x, w, dy));
                System.out.printf("%s,%s,%d,%d,%d,%.3f,%.3f,%.3f%n", csvName(recipe), policy, m, k, n, layerMs, rawMs,
                        layerMs / rawMs);
            }
        } finally {
            Backends.use(previous);
        }
    }

    /**
     * Float8Linear's forward+backward on device tensors under tensorwise scaling, current against delayed
     * ({@code tensorwise_delayed}: the scale from the amax history on the GPU, so each cast reads its input once where
     * current scaling reads it for its amax first), per backward policy, timed alternately in one run. The inputs
     * come from outside the layer, so no producer reports their amax: the case delayed scaling is for. The prediction,
     * per step at M=16384, K=N=8192: one read fewer of x and of dY (BF16, 268 MB each) and two of W (F32, 268 MB,
     * cast in forward and again in backward), about 1.1 GB or 0.35 ms at 3 TB/s, some 6% of the FP8 step.
     */
    private void delayedScaling(int m, int k, int n) {
        System.out.println("# tensorwise scaling, current against delayed: Float8Linear forward+backward on device tensors"
                + " (F32 master weight, BF16 x and dY)");
        System.out.println("policy,M,K,N,current_ms,delayed_ms,current_over_delayed");
        Backend previous = Backends.current();
        Backends.use(cuda);
        try (DeviceTensor x = randomBf16(m, k, 1f, 31); DeviceTensor dy = randomBf16(m, n, 1e-3f, 33)) {
            Tensor xOnDevice = cuda.toDevice(cuda.download(x));
            Tensor dyOnDevice = cuda.toDevice(cuda.download(dy));
            for (Backward policy : new Backward[] {Backward.KEEP_HIGH_PRECISION, Backward.BOTH_AXES}) {
                Float8Linear current = new Float8Linear(k, n, Float8Plan.tensorwise().withBackward(policy));
                Float8Linear delayed = new Float8Linear(k, n,
                        Float8Recipes.named("tensorwise_delayed").withBackward(policy));
                current.moveTo(cuda);
                delayed.moveTo(cuda);
                double[] ms = timeAlternating(() -> layerStep(current, xOnDevice, dyOnDevice),
                        () -> layerStep(delayed, xOnDevice, dyOnDevice));
                System.out.printf("%s,%d,%d,%d,%.3f,%.3f,%.3f%n", policy, m, k, n, ms[0], ms[1], ms[0] / ms[1]);
            }
        } finally {
            Backends.use(previous);
        }
    }

    /** One forward+backward of layer in a device scope, its gradient zeroed first. */
    private void layerStep(Float8Linear layer, Tensor x, Tensor dy) {
        try (DeviceScope step = cuda.openScope()) {
            layer.zeroGrad();
            layer.forward(x);
            layer.backward(dy);
        }
    }

    /**
     * One optimizer step's passes of Float8Linear under gradient accumulation of k micro-batches, with the weight's FP8
     * casts made once per step (a WeightCastReuse window) against once per pass (reuse switched off), timed
     * alternately in one run. No optimizer update: only the passes differ. Per micro-batch milliseconds.
     */
    private void weightCastReuse(int m, int k, int n) {
        System.out.println("# weight-cast reuse: Float8Linear forward+backward of k micro-batches per step (F32 master"
                + " weight, BF16 x and dY), casts of W once per step against once per pass");
        System.out.println("recipe,policy,M,K,N,micro_batches,reuse_off_ms_per_micro_batch,reuse_on_ms_per_micro_batch,"
                + "off_over_on");
        Backend previous = Backends.current();
        Backends.use(cuda);
        try (DeviceTensor x = randomBf16(m, k, 1f, 21); DeviceTensor dy = randomBf16(m, n, 1e-3f, 23)) {
            Tensor xOnDevice = cuda.toDevice(cuda.download(x));
            Tensor dyOnDevice = cuda.toDevice(cuda.download(dy));
            for (Recipe recipe : new Recipe[] {Recipe.TENSORWISE, Recipe.ROWWISE}) {
                Backward policy = Backward.BOTH_AXES;
                Float8Linear layer = new Float8Linear(k, n, Recipes.plan(recipe, policy));
                layer.moveTo(cuda);
                for (int microBatches : new int[] {1, 4}) {
                    Runnable off = () -> accumulate(layer, xOnDevice, dyOnDevice, microBatches, false);
                    Runnable on = () -> accumulate(layer, xOnDevice, dyOnDevice, microBatches, true);
                    double[] ms = timeAlternating(off, on);
                    System.out.printf("%s,%s,%d,%d,%d,%d,%.3f,%.3f,%.3f%n", csvName(recipe), policy, m, k, n,
                            microBatches, ms[0] / microBatches, ms[1] / microBatches, ms[0] / ms[1]);
                }
            }
        } finally {
            Backends.use(previous);
            WeightCastReuse.setEnabled(true);
        }
    }

    /** k forward+backward passes in one device scope, with a weight-cast window inside it (inert when reuse is off). */
    private void accumulate(Float8Linear layer, Tensor x, Tensor dy, int microBatches, boolean reuse) {
        WeightCastReuse.setEnabled(reuse);
        // the window closes before the scope, so the cached copies are released before the scope frees them
        try (DeviceScope step = cuda.openScope(); WeightCastReuse.Window casts = WeightCastReuse.open()) {
            for (int i = 0; i < microBatches; i++) {
                layer.forward(x);
                layer.backward(dy);
            }
        }
    }

    /**
     * The three gemms of each recipe's BOTH_AXES step with no cast among them: the operands are cast once, then only
     * the gemms are timed, back to back as a step is. That is the least time any cast design, fused, delayed or
     * overlapped, could give the step with these gemms, so {@code bf16_over_gemms} bounds the speedup it could reach.
     * Under the power cap the gemms may also run at another clock without the casts between them: the same gemms are
     * timed with a BF16 copy of x before each (memory-bound work whose output no gemm reads) and the copies alone, and
     * {@code slowdown_ms} is what the pair takes beyond the two apart.
     */
    private void gemmsOnly(int m, int k, int n) {
        try (DeviceTensor x = randomBf16(m, k, 1f, 1); DeviceTensor w = randomBf16(n, k, 0.02f, 2);
                DeviceTensor dy = randomBf16(m, n, 1e-3f, 3)) {
            double bf16 = timeSteps(() -> bf16Step(x, w, dy));
            for (Recipe recipe : RECIPES) {
                Specs specs = Specs.of(recipe);
                DeviceFloat8[] xq = castOnce(x, specs.x, specs.gradWeightHp);
                DeviceFloat8[] wq = castOnce(w, specs.w, false);
                DeviceFloat8[] dyq = castOnce(dy, specs.dy, specs.gradWeightHp);
                Runnable noCopy = () -> { };
                // a BF16 copy of x before each gemm: memory-bound work of about a cast's size, whose output no gemm
                // reads
                Runnable copy = () -> cuda.convert(x, DType.BF16).close();
                double gemmMs = timeSteps(() -> threeGemms(specs, xq, wq, dyq, x, dy, noCopy));
                double stepMs = timeSteps(() -> fp8Step(recipe, Backward.BOTH_AXES, x, w, dy));
                double copiesMs = timeSteps(() -> {
                    copy.run();
                    copy.run();
                    copy.run();
                });
                double betweenMs = timeSteps(() -> threeGemms(specs, xq, wq, dyq, x, dy, copy));
                System.out.printf("%s,%d,%d,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f%n", csvName(recipe), m, k, n,
                        gemmMs, stepMs, bf16, bf16 / gemmMs, bf16 / stepMs, copiesMs, betweenMs,
                        betweenMs - gemmMs - copiesMs);
                closeAll(xq, wq, dyq);
            }
        }
    }

    /**
     * t cast once for {@link #threeGemms}: its copies along 1 and along 0, or only along 1 (element 1 null) where
     * grad_weight in BF16 reads t as it is.
     */
    private DeviceFloat8[] castOnce(DeviceTensor t, QuantSpec spec, boolean alongOneOnly) {
        return alongOneOnly ? new DeviceFloat8[] {cuda.quantize(t, spec), null}
                : cuda.quantizeBothAxes(t, spec, spec.withAxis(0));
    }

    /** Frees the copies of {@link #castOnce}, absent ones skipped. */
    private static void closeAll(DeviceFloat8[]... copies) {
        for (DeviceFloat8[] pair : copies) {
            for (DeviceFloat8 q : pair) {
                if (q != null) {
                    q.close();
                }
            }
        }
    }

    /**
     * Each part of the tensorwise BOTH_AXES step run alone for {@link #WINDOW_MS} of wall time, back to back, for a
     * power sampler outside the JVM (benchmarks/power_windows.py) to attribute its samples: float8j's BF16 step, the
     * three FP8 gemms on operands cast before, the step's casts under current scaling (an amax pass, then both copies
     * of x, W and dY) and under delayed scaling (one read of each, the scale from an amax history on the GPU), and the
     * whole step. Prints {@code window,name,start_ms,end_ms,ms_per_step} (wall-clock epoch milliseconds), so that at
     * the power cap each part's joules per step are its milliseconds times its watts.
     */
    private void energyWindows(int m, int k, int n) {
        Backend previous = Backends.current();
        Backends.use(cuda);
        try (DeviceTensor x = randomBf16(m, k, 1f, 51); DeviceTensor w = randomBf16(n, k, 0.02f, 52);
                DeviceTensor dy = randomBf16(m, n, 1e-3f, 53)) {
            Specs specs = Specs.of(Recipe.TENSORWISE);
            DeviceFloat8[] xq = castOnce(x, specs.x, false);
            DeviceFloat8[] wq = castOnce(w, specs.w, false);
            DeviceFloat8[] dyq = castOnce(dy, specs.dy, false);
            Tensor[] inputs = {cuda.toDevice(cuda.download(x)), cuda.toDevice(cuda.download(w)),
                cuda.toDevice(cuda.download(dy))};
            QuantSpec[] inputSpecs = {specs.x, specs.w, specs.dy};
            AmaxHistory[] histories = new AmaxHistory[3];
            for (int i = 0; i < 3; i++) {
                histories[i] = cuda.newAmaxHistory(DelayedScaling.maxOfLast(16));
            }
            System.out.printf("# energy windows, tensorwise BOTH_AXES, M=%d K=%d N=%d, %d ms each%n", m, k, n,
                    WINDOW_MS);
            for (int round = 0; round < 2; round++) {
                window("bf16_step", () -> bf16Step(x, w, dy));
                window("fp8_gemms", () -> threeGemms(specs, xq, wq, dyq, x, dy, () -> { }));
                window("casts_current", () -> {
                    DeviceTensor[] raw = {x, w, dy};
                    for (int i = 0; i < 3; i++) {
                        for (DeviceFloat8 q : cuda.quantizeBothAxes(raw[i], inputSpecs[i], inputSpecs[i].withAxis(0))) {
                            q.close();
                        }
                    }
                });
                window("casts_delayed", () -> {
                    for (int i = 0; i < 3; i++) {
                        for (Float8Tensor q : cuda.quantizeBothAxesDelayed(inputs[i], inputSpecs[i],
                                inputSpecs[i].withAxis(0), histories[i])) {
                            cuda.release(q);
                        }
                        histories[i].commit();
                    }
                });
                window("fp8_step", () -> fp8Step(Recipe.TENSORWISE, Backward.BOTH_AXES, x, w, dy));
            }
            closeAll(xq, wq, dyq);
        } finally {
            Backends.use(previous);
        }
    }

    /** Wall time each part of {@link #energyWindows} runs, long enough for about 60 samples at 50 ms. */
    private static final long WINDOW_MS = 3000;

    /** Runs step back to back for {@link #WINDOW_MS} after a warm-up and prints its window line. */
    private void window(String name, Runnable step) {
        warmUp(step);
        long start = System.currentTimeMillis();
        cuda.record(events[0]);
        int steps = 0;
        while (System.currentTimeMillis() - start < WINDOW_MS) {
            for (int i = 0; i < 10; i++) {
                step.run();
            }
            steps += 10;
            cuda.synchronize();
        }
        cuda.record(events[1]);
        cuda.synchronize();
        long end = System.currentTimeMillis();
        System.out.printf("window,%s,%d,%d,%.3f%n", name, start, end, cuda.elapsedMillis(events[0], events[1]) / steps);
    }

    /** A BOTH_AXES step's three gemms on operands cast before, with {@code before} run ahead of each gemm. */
    private void threeGemms(Specs specs, DeviceFloat8[] xq, DeviceFloat8[] wq, DeviceFloat8[] dyq, DeviceTensor x,
            DeviceTensor dy, Runnable before) {
        before.run();
        try (DeviceTensor y = cuda.gemm(xq[0], wq[0], DType.BF16, true)) {
            before.run();
            try (DeviceTensor dx = cuda.gemm(dyq[0], wq[1], DType.BF16, fastAccumAll)) {
                before.run();
                try (DeviceTensor dw = specs.gradWeightHp ? cuda.matmul(dy, 0, x, 0, DType.BF16)
                        : cuda.gemm(dyq[1], xq[1], DType.BF16, fastAccumAll)) {
                    // results go back to the allocator's cache, as in a step
                }
            }
        }
    }

    /** Each cast kernel alone on a rows x cols BF16 tensor: time and bytes moved per second. */
    private void castKernels(int rows, int cols) {
        System.out.println("# cast kernels alone on a " + rows + "x" + cols + " BF16 tensor"
                + " (bytes = each read of the input + each FP8 copy written)");
        System.out.println("granularity,what,ms,GB_per_s");
        try (DeviceTensor x = randomBf16(rows, cols, 1f, 9)) {
            // the ceiling: a device-to-device copy of the same tensor (read once, written once)
            reportCast("COPY", "device-to-device copy", 2 * x.bytes(), () -> cuda.convert(x, DType.BF16).close());
            for (ScalingGranularity g : new ScalingGranularity[] {ScalingGranularity.TENSORWISE,
                ScalingGranularity.ROWWISE, ScalingGranularity.TILE_1X128, ScalingGranularity.BLOCK_128X128}) {
                QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, g, 1);
                long read = hpBytesRead(x, g);
                long codes = (long) rows * cols;
                reportCast(g, "along 1", read + codes, () -> cuda.quantize(x, spec).close());
                reportCast(g, "along 0 (transposed)", read + codes, () -> cuda.quantize(x, spec.withAxis(0)).close());
                reportCast(g, "both axes", read + 2 * codes, () -> {
                    for (DeviceFloat8 q : cuda.quantizeBothAxes(x, spec, spec.withAxis(0))) {
                        q.close();
                    }
                });
                try (DeviceFloat8 q = cuda.quantize(x, spec)) {
                    int passes = g == ScalingGranularity.TENSORWISE || g == ScalingGranularity.ROWWISE ? 2 : 1;
                    reportCast(g, "requantize along 1 -> along 0", passes * codes + codes,
                            () -> cuda.requantize(q, spec.withAxis(0)).close());
                    if (g.transposeable()) {
                        reportCast(g, "transpose along 1 -> along 0", 2 * codes, () -> cuda.transpose(q).close());
                    }
                }
            }
        }
    }

    private void reportCast(Object g, String what, long bytes, Runnable work) {
        double ms = timeSteps(work);
        System.out.printf("%s,%s,%.3f,%.0f%n", g, what, ms, bytes / ms / 1e6);
    }
}
