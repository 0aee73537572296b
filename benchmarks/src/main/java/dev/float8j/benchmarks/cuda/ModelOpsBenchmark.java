package dev.float8j.benchmarks.cuda;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.cuda.CudaBackend;
import dev.float8j.runtime.cuda.DeviceScope;
import dev.float8j.runtime.ops.AdamWStep;
import dev.float8j.runtime.ops.AttentionShape;
import dev.float8j.runtime.ops.LossResult;
import dev.float8j.runtime.ops.ModelOps;
import dev.float8j.runtime.ops.NormResult;
import dev.float8j.runtime.ops.TokenIds;
import java.util.List;
import java.util.Random;

/**
 * Times each CUDA model op (not attention: see AttentionBenchmark) at the Llama benchmark's shapes: batch 4 x
 * sequence 4096 tokens, dim 4096, 32 heads of 128, FFN 14336, vocabulary 32768, BF16 activations, F32
 * parameters. Prints CSV {@code op,shape,ms,gb_per_s}, where GB/s counts each tensor read or written once (the
 * least traffic the op needs), to compare with the device's memory bandwidth.
 */
public final class ModelOpsBenchmark {
    private static final int TOKENS = 4 * 4096;
    private static final int DIM = 4096;
    private static final int FFN = 14336;
    private static final int VOCABULARY = 32768;
    private static final int REPEATS = 10;

    private final CudaBackend cuda;
    private final ModelOps ops;
    /** 8192 x 8192 BF16: its product with itself keeps the GPU busy for a few milliseconds (see {@link #time}). */
    private final Tensor busy;

    private ModelOpsBenchmark(CudaBackend cuda) {
        this.cuda = cuda;
        this.ops = cuda.ops();
        this.busy = random(DType.BF16, 8192, 8192, 99);
    }

    public static void main(String[] args) {
        CudaBackend cuda = CudaBackend.create();
        System.out.println("# device: " + cuda.deviceName());
        System.out.println("op,shape,ms,gb_per_s");
        new ModelOpsBenchmark(cuda).run();
    }

    /** A device tensor of scrambled values in [-4, 4], made on the host (BF16 or F32); cheap for 10^9 elements. */
    private Tensor random(DType dtype, int rows, int cols, long seed) {
        float[] data = new float[rows * cols];
        for (int i = 0; i < data.length; i++) {
            long h = (i + seed * 0x9E3779B97F4A7C15L) * 0xBF58476D1CE4E5B9L;
            data[i] = ((h >>> 40) % 2001 - 1000) / 250f;
        }
        Tensor t = Tensor.of(data, rows, cols);
        return cuda.toDevice(dtype == DType.F32 ? t : t.to(DType.BF16));
    }

    private void time(String op, String shape, double bytes, Runnable work) {
        work.run();  // compiles kernels, fills the allocator's cache
        cuda.synchronize();
        CudaBackend.Event start = cuda.newEvent();
        CudaBackend.Event end = cuda.newEvent();
        // A matmul of a few milliseconds queued first keeps the GPU busy while the host queues the timed calls, so
        // the window holds the kernels' time only: a kernel of 0.1 ms runs faster than the host queues the next
        // call, and after a synchronization the GPU would wait for the host inside the window.
        try (DeviceScope scope = cuda.openScope()) {
            cuda.matmul(busy, 1, busy, 1, DType.BF16);
        }
        cuda.record(start);
        for (int i = 0; i < REPEATS; i++) {
            try (DeviceScope scope = cuda.openScope()) {
                work.run();
            }
        }
        cuda.record(end);
        float ms = cuda.elapsedMillis(start, end) / REPEATS;
        System.out.printf("%s,%s,%.3f,%.0f%n", op, shape, ms, bytes / (ms * 1e6));
    }

    private void run() {
        AttentionShape shape = new AttentionShape(4, 4096, 32, 8, 128);
        int[] ids = new Random(1).ints(TOKENS, 0, VOCABULARY).toArray();
        TokenIds tokens = ops.tokens(ids, 4, 4096);
        long act = 2L * TOKENS * DIM;
        long ffnAct = 2L * TOKENS * FFN;
        String tokensByDim = TOKENS + "x" + DIM;

        Tensor table = random(DType.F32, VOCABULARY, DIM, 2);
        Tensor tableGrad = random(DType.F32, VOCABULARY, DIM, 3);
        Tensor x = random(DType.BF16, TOKENS, DIM, 4);
        Tensor dy = random(DType.BF16, TOKENS, DIM, 5);
        // the gather reads F32 table rows (twice act's bytes) and writes BF16 ones
        time("embedding", tokensByDim, 3.0 * act + 4.0 * TOKENS, () -> ops.embedding(table, tokens, DType.BF16));
        time("embedding_backward", tokensByDim, act + 4.0 * TOKENS * DIM * 2,
                () -> ops.embeddingBackward(tableGrad, tokens, dy));

        Tensor gain = random(DType.F32, 1, DIM, 6);
        Tensor gainGrad = random(DType.F32, 1, DIM, 7);
        NormResult norm = ops.rmsNorm(x, gain, 1e-5f);
        time("rms_norm", tokensByDim, 2.0 * act, () -> ops.rmsNorm(x, gain, 1e-5f));
        time("rms_norm_backward", tokensByDim, 3.0 * act,
                () -> ops.rmsNormBackward(dy, x, gain, norm.inverseRms(), gainGrad));
        // the step's form before attention: the residual's gradient plus the parts q, k and v made (6 tensors moved)
        Tensor dk = random(DType.BF16, TOKENS, DIM, 12);
        Tensor dv = random(DType.BF16, TOKENS, DIM, 13);
        time("rms_norm_backward_sum3_residual", tokensByDim, 6.0 * act,
                () -> ops.rmsNormBackwardSum(x, List.of(dy, dk, dv), x, gain, norm.inverseRms(), gainGrad));
        // the form before the MLP: the parts gate and up made (5 tensors moved)
        time("rms_norm_backward_sum2_residual", tokensByDim, 5.0 * act,
                () -> ops.rmsNormBackwardSum(x, List.of(dy, dk), x, gain, norm.inverseRms(), gainGrad));
        time("rope", tokensByDim, 2.0 * act, () -> ops.rope(x, shape, 32, 500000f, false));
        // the keys' rope: 8 heads, a quarter of the queries' row
        Tensor keys = random(DType.BF16, TOKENS, DIM / 4, 15);
        time("rope_k", TOKENS + "x" + DIM / 4, act / 2.0, () -> ops.rope(keys, shape, 8, 500000f, false));
        time("add", tokensByDim, 3.0 * act, () -> ops.add(x, dy));
        // a residual sum and the norm after it in one pass: reads two tensors, writes two (add then rms_norm move 5)
        time("add_rms_norm", tokensByDim, 4.0 * act, () -> ops.addRmsNorm(x, dy, gain, 1e-5f));

        Tensor gate = random(DType.BF16, TOKENS, FFN, 8);
        Tensor up = random(DType.BF16, TOKENS, FFN, 9);
        Tensor dh = random(DType.BF16, TOKENS, FFN, 10);
        String tokensByFfn = TOKENS + "x" + FFN;
        time("swiglu", tokensByFfn, 3.0 * ffnAct, () -> ops.swiglu(gate, up));
        time("swiglu_backward", tokensByFfn, 5.0 * ffnAct, () -> ops.swigluBackward(dh, gate, up));

        Tensor logits = random(DType.BF16, TOKENS, VOCABULARY, 11);
        long logitBytes = 2L * TOKENS * VOCABULARY;
        time("cross_entropy", TOKENS + "x" + VOCABULARY, 2.0 * logitBytes, () -> {
            LossResult unused = ops.crossEntropy(logits, tokens);
        });

        Tensor w = random(DType.F32, FFN, DIM, 12);
        Tensor g = random(DType.F32, FFN, DIM, 13);
        Tensor m = random(DType.F32, FFN, DIM, 14);
        Tensor v = cuda.toDevice(Tensor.zeros(DType.F32, FFN, DIM));
        long param = 4L * FFN * DIM;
        String paramShape = FFN + "x" + DIM;
        time("sum_of_squares", paramShape, param, () -> ops.sumOfSquares(List.of(g)));
        Tensor sum = ops.sumOfSquares(List.of(g));
        AdamWStep step = new AdamWStep(1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
        time("adamw_clipped", paramShape, 7.0 * param, () -> ops.adamw(w, g, m, v, step, sum, 1f, null));
        // the same with the gradient kept in BF16 (Parameter.moveTo): half the gradient's bytes
        Tensor g16 = random(DType.BF16, FFN, DIM, 13);
        time("sum_of_squares_bf16", paramShape, param / 2.0, () -> ops.sumOfSquares(List.of(g16)));
        time("adamw_clipped_bf16_grad", paramShape, 6.5 * param, () -> ops.adamw(w, g16, m, v, step, sum, 1f, null));

        // A rowwise cast of both axes of a result whose producer reports its amax turns on the row and column maxima
        // (ProducerMaxima.wantLines), as in a rowwise step: from here the reporting ops run their _lines kernels.
        Tensor h = ops.swiglu(gate, up);
        QuantSpec rowwise = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 1);
        cuda.quantizeBothAxes(h, rowwise, rowwise.otherAxis());
        time("swiglu_lines", tokensByFfn, 3.0 * ffnAct, () -> ops.swiglu(gate, up));
        time("swiglu_backward_lines", tokensByFfn, 5.0 * ffnAct, () -> ops.swigluBackward(dh, gate, up));
        time("rms_norm_backward_lines", tokensByDim, 3.0 * act,
                () -> ops.rmsNormBackward(dy, x, gain, norm.inverseRms(), gainGrad));
        time("adamw_clipped_lines", paramShape, 7.0 * param, () -> ops.adamw(w, g, m, v, step, sum, 1f, null));
        time("adamw_clipped_lines_bf16_grad", paramShape, 6.5 * param,
                () -> ops.adamw(w, g16, m, v, step, sum, 1f, null));
    }
}
