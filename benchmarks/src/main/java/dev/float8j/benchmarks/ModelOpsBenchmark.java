package dev.float8j.benchmarks;

import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.cpu.CpuBackend;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.LinearFactory;
import dev.float8j.runtime.nn.transformer.LlamaConfig;
import dev.float8j.runtime.nn.transformer.LlamaModel;
import dev.float8j.runtime.ops.AdamWStep;
import dev.float8j.runtime.ops.AttentionResult;
import dev.float8j.runtime.ops.AttentionShape;
import dev.float8j.runtime.ops.ModelOps;
import dev.float8j.runtime.ops.NormResult;
import dev.float8j.runtime.ops.ReferenceModelOps;
import dev.float8j.runtime.ops.TokenIds;
import dev.float8j.runtime.train.LearningRateSchedule;
import dev.float8j.runtime.train.LlamaTrainer;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.Consumer;

/**
 * The transformer's non-gemm ops on the CPU backend, {@link ReferenceModelOps} (scalar, double) against the
 * backend's own {@code CpuModelOps}, op by op and as a whole Llama training step, their samples taken alternately
 * so that other work on the machine slows both alike. Prints CSV: {@code what,reference_ms,cpu_ms,speedup}, each
 * time the median of the samples.
 *
 * <p>Sizes: dim 256, 4 layers, 8 heads, 2 kv heads (head dim 32), ffn 704, vocabulary 256, seq 256, batch 4,
 * F32 activations, high-precision linear layers. Arguments (optional): {@code --samples=5}.
 */
public final class ModelOpsBenchmark {
    private static final int DIM = 256;
    private static final int LAYERS = 4;
    private static final int HEADS = 8;
    private static final int KV_HEADS = 2;
    private static final int FFN = 704;
    private static final int VOCABULARY = 256;
    private static final int SEQ = 256;
    private static final int BATCH = 4;

    private ModelOpsBenchmark() {
    }

    public static void main(String[] args) {
        int samples = 5;
        for (String a : args) {
            if (a.startsWith("--samples=")) {
                samples = Integer.parseInt(a.substring("--samples=".length()));
            } else {
                throw new IllegalArgumentException("unknown argument " + a + " (takes --samples=N)");
            }
        }
        CpuBackend cpu = new CpuBackend();
        System.out.println("# " + cpu.threads() + " threads; dim " + DIM + ", " + LAYERS + " layers, heads " + HEADS + "/"
                + KV_HEADS + ", ffn " + FFN + ", vocabulary " + VOCABULARY + ", seq " + SEQ + ", batch " + BATCH);
        System.out.println("what,reference_ms,cpu_ms,speedup");
        ops(ReferenceModelOps.INSTANCE, cpu.ops(), samples);
        trainingStep(cpu, samples);
    }

    /** Each op on one layer's shapes. */
    private static void ops(ModelOps reference, ModelOps cpu, int samples) {
        Random random = new Random(1);
        int tokens = BATCH * SEQ;
        int headDim = DIM / HEADS;
        AttentionShape shape = new AttentionShape(BATCH, SEQ, HEADS, KV_HEADS, headDim);
        Tensor x = random(random, tokens, DIM);
        Tensor gain = random(random, 1, DIM);
        Tensor q = random(random, tokens, DIM);
        Tensor k = random(random, tokens, KV_HEADS * headDim);
        Tensor v = random(random, tokens, KV_HEADS * headDim);
        Tensor gate = random(random, tokens, FFN);
        Tensor up = random(random, tokens, FFN);
        Tensor logits = random(random, tokens, VOCABULARY);
        int[] targets = new int[tokens];
        for (int i = 0; i < tokens; i++) {
            targets[i] = random.nextInt(VOCABULARY);
        }
        TokenIds ids = reference.tokens(targets, BATCH, SEQ);
        NormResult norm = reference.rmsNorm(x, gain, 1e-5f);
        AttentionResult attention = reference.attention(q, k, v, shape);
        Tensor param = random(random, DIM, FFN);
        Tensor grad = random(random, DIM, FFN);
        List<Tensor> grads = List.of(grad, random(random, FFN, DIM), x);
        AdamWStep step = new AdamWStep(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 3);

        compare("rmsNorm [1024, 256]", samples, reference, cpu, ops -> ops.rmsNorm(x, gain, 1e-5f));
        compare("rmsNormBackward", samples, reference, cpu,
                ops -> ops.rmsNormBackward(x, x, gain, norm.inverseRms(), Tensor.zeros(DType.F32, 1, DIM)));
        compare("rope q [1024, 256]", samples, reference, cpu, ops -> ops.rope(q, shape, HEADS, 10_000f, false));
        compare("attention b4 s256 h8/2 d32", samples, reference, cpu, ops -> ops.attention(q, k, v, shape));
        compare("attentionBackward", samples, reference, cpu,
                ops -> ops.attentionBackward(q, q, k, v, attention, shape));
        compare("swiglu [1024, 704]", samples, reference, cpu, ops -> ops.swiglu(gate, up));
        compare("swigluBackward", samples, reference, cpu, ops -> ops.swigluBackward(gate, gate, up));
        compare("add [1024, 256]", samples, reference, cpu, ops -> ops.add(x, x));
        compare("crossEntropy [1024, 256]", samples, reference, cpu, ops -> ops.crossEntropy(logits, ids));
        compare("sumOfSquares 0.62M", samples, reference, cpu, ops -> ops.sumOfSquares(grads));
        Tensor sumOfSquares = reference.sumOfSquares(grads);
        Tensor m = Tensor.zeros(DType.F32, DIM, FFN);
        Tensor v2 = Tensor.zeros(DType.F32, DIM, FFN);
        compare("adamw [256, 704]", samples, reference, cpu,
                ops -> ops.adamw(param, grad, m, v2, step, sumOfSquares, 1f, null));
    }

    /** A whole training step, on the CPU backend's gemms with the reference's ops and with its own. */
    private static void trainingStep(CpuBackend cpu, int samples) {
        Backend withReferenceOps = new ReferenceOpsOn(cpu);
        LlamaConfig config = LlamaConfig.of(DIM, LAYERS, HEADS, KV_HEADS, FFN, VOCABULARY, SEQ);
        Backend before = Backends.current();
        try {
            Stepper reference = new Stepper(withReferenceOps, config);
            Stepper own = new Stepper(cpu, config);
            for (int i = 0; i < 3; i++) { // warm-up
                reference.step();
                own.step();
            }
            double[] r = new double[samples];
            double[] c = new double[samples];
            for (int s = 0; s < samples; s++) {
                r[s] = reference.step();
                c[s] = own.step();
            }
            print("Llama training step (ops + gemms)", median(r), median(c));
        } finally {
            Backends.use(before);
        }
    }

    /** A model and its trainer on one backend; step() makes that backend current and times one step in ms. */
    private static final class Stepper {
        private final Backend backend;
        private final LlamaTrainer trainer;
        private final Random random = new Random(2);

        Stepper(Backend backend, LlamaConfig config) {
            this.backend = backend;
            Backends.use(backend);
            Init.seed(3);
            LlamaModel model = new LlamaModel(config, DType.F32, LinearFactory.highPrecision());
            this.trainer = new LlamaTrainer(model, new LlamaTrainer.Settings(
                    new LearningRateSchedule(1e-3, 1e-4, 1, 1000), 0.01, 1f, LlamaTrainer.OnNonFinite.FAIL));
        }

        double step() {
            Backends.use(backend);
            int[] inputs = new int[BATCH * SEQ];
            int[] targets = new int[inputs.length];
            for (int i = 0; i < inputs.length; i++) {
                inputs[i] = random.nextInt(VOCABULARY);
                targets[i] = random.nextInt(VOCABULARY);
            }
            long start = System.nanoTime();
            trainer.step(inputs, targets, BATCH, SEQ);
            return (System.nanoTime() - start) / 1e6;
        }
    }

    /** The CPU backend with the reference's ops: the step as it was before the backend had its own. */
    private static final class ReferenceOpsOn implements Backend {
        private final CpuBackend cpu;

        ReferenceOpsOn(CpuBackend cpu) {
            this.cpu = cpu;
        }

        @Override
        public String name() {
            return "cpu-with-reference-ops";
        }

        @Override
        public Float8Tensor quantize(Tensor x, QuantSpec spec) {
            return cpu.quantize(x, spec);
        }

        @Override
        public Float8Tensor[] quantizeBothAxes(Tensor x, QuantSpec alongColumns, QuantSpec alongRows) {
            return cpu.quantizeBothAxes(x, alongColumns, alongRows);
        }

        @Override
        public Tensor dequantize(Float8Tensor q) {
            return cpu.dequantize(q);
        }

        @Override
        public Float8Tensor requantize(Float8Tensor q, QuantSpec spec) {
            return cpu.requantize(q, spec);
        }

        @Override
        public Tensor gemm(Float8Tensor a, Float8Tensor b) {
            return cpu.gemm(a, b);
        }

        @Override
        public Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis) {
            return cpu.matmul(a, aAxis, b, bAxis);
        }

        @Override
        public void release(Float8Tensor q) {
            cpu.release(q);
        }

        @Override
        public void release(Tensor t) {
            cpu.release(t);
        }
    }

    private static void compare(String what, int samples, ModelOps reference, ModelOps cpu, Consumer<ModelOps> op) {
        // warm-up until both are compiled: the vector code is slow until C2 compiles it (a training run
        // gets there within its first steps)
        for (long end = System.nanoTime() + 1_500_000_000L; System.nanoTime() < end; ) {
            op.accept(cpu);
            op.accept(reference);
        }
        double[] r = new double[samples];
        double[] c = new double[samples];
        for (int s = 0; s < samples; s++) {
            r[s] = time(reference, op);
            c[s] = time(cpu, op);
        }
        print(what, median(r), median(c));
    }

    private static double time(ModelOps ops, Consumer<ModelOps> op) {
        long start = System.nanoTime();
        op.accept(ops);
        return (System.nanoTime() - start) / 1e6;
    }

    private static void print(String what, double referenceMs, double cpuMs) {
        System.out.println(String.format(Locale.ROOT, "%s,%.3f,%.3f,%.1f", what, referenceMs, cpuMs,
                referenceMs / cpuMs));
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    private static Tensor random(Random random, int rows, int cols) {
        float[] values = new float[rows * cols];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return Tensor.of(values, rows, cols);
    }
}
