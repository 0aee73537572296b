package dev.float8j.benchmarks.cuda;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.cuda.CudaAttention;
import dev.float8j.runtime.cuda.CudaBackend;
import dev.float8j.runtime.cuda.DeviceTensor;
import dev.float8j.runtime.ops.AttentionShape;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Times float8j's fused causal attention (BF16, grouped-query heads), forward and forward+backward, at the
 * Llama benchmark's shape: batch 4, seq 4096, 32 heads, 8 kv heads, headDim 128 (arguments override:
 * {@code batch seq heads kvHeads headDim}). Prints CSV {@code system,pass,ms,tflops} with causal FLOPs: forward
 * 4 * B * H * S^2 * D / 2, backward 2.5x that. benchmarks/attention_pytorch.py times PyTorch's SDPA the same way.
 * A sixth argument sets the timed calls (default 10): a few hundred keep the GPU busy long enough to reach the
 * clock it holds under its power limit, as it does inside a training step.
 */
public final class AttentionBenchmark {
    private static final int WARMUP = 3;
    private static final int DEFAULT_REPEATS = 10;

    private AttentionBenchmark() {
    }

    public static void main(String[] args) {
        int[] a = args.length >= 5 ? Arrays.stream(args).mapToInt(Integer::parseInt).toArray()
                : new int[] {4, 4096, 32, 8, 128};
        AttentionShape s = new AttentionShape(a[0], a[1], a[2], a[3], a[4]);
        int repeats = a.length > 5 ? a[5] : DEFAULT_REPEATS;
        CudaBackend backend = CudaBackend.create();
        CudaAttention attention = CudaAttention.create();
        System.out.println("# device: " + backend.deviceName() + ", " + s + ", " + repeats + " timed calls");
        SplittableRandom rnd = new SplittableRandom(42);
        int qCols = s.heads() * s.headDim();
        int kvCols = s.kvHeads() * s.headDim();
        try (DeviceTensor q = random(backend, rnd, s.tokens(), qCols);
                DeviceTensor k = random(backend, rnd, s.tokens(), kvCols);
                DeviceTensor v = random(backend, rnd, s.tokens(), kvCols);
                DeviceTensor dOut = random(backend, rnd, s.tokens(), qCols)) {
            double forwardFlops = 4.0 * s.batch() * s.heads() * s.seq() * (double) s.seq() * s.headDim() / 2;
            double forwardMs = EventTiming.meanMillis(backend, WARMUP, repeats,
                    () -> closeAll(attention.forward(q, k, v, s)));
            double bothMs = EventTiming.meanMillis(backend, WARMUP, repeats, () -> {
                DeviceTensor[] fwd = attention.forward(q, k, v, s);
                closeAll(attention.backward(dOut, q, k, v, fwd[0], fwd[1], s));
                closeAll(fwd);
            });
            System.out.println("system,pass,ms,tflops");
            System.out.printf("float8j,forward,%.3f,%.1f%n", forwardMs, forwardFlops / forwardMs / 1e9);
            System.out.printf("float8j,backward,%.3f,%.1f%n", bothMs - forwardMs,
                    2.5 * forwardFlops / (bothMs - forwardMs) / 1e9);
            System.out.printf("float8j,forward+backward,%.3f,%.1f%n", bothMs, 3.5 * forwardFlops / bothMs / 1e9);
        }
    }

    private static void closeAll(DeviceTensor[] tensors) {
        for (DeviceTensor t : tensors) {
            t.close();
        }
    }

    /** Uniform values in [-1, 1) as BF16 on the device. */
    private static DeviceTensor random(CudaBackend backend, SplittableRandom rnd, int rows, int cols) {
        float[] x = new float[rows * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return backend.upload(Tensor.of(x, rows, cols).to(DType.BF16));
    }
}
