package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.BFloat16;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.ops.AttentionShape;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The fused attention kernels against a plain double-precision causal softmax attention written out below,
 * forward (out, lse) and backward (dq, dk, dv), on small shapes: seq 1, 17, 128, 200 and 1000 (partial and
 * several tiles), grouped-query 4:1 and 2:1 and plain 1:1 heads, headDim 64 and 128. Skips without a GPU.
 */
class CudaAttentionTest {
    /**
     * The kernels round P and dS to BF16 before their second products and write BF16 results, so each result
     * carries a few BF16 roundings (2^-9 relative each), an expected error of a few 1e-3, while a wrong
     * layout, mask or scale gives errors of order 1. The test prints the errors it measures.
     */
    private static final double TOLERANCE = 2e-2;
    /** lse is computed in F32 from exact products of the BF16 inputs. */
    private static final double LSE_TOLERANCE = 1e-3;

    private static CudaAttention attention;

    /**
     * The last shape has more heads (36) and kv heads (9) than one band of the Hopper kernels' grids takes (8 and 4
     * by default), and counts that are no multiple of them, so that its blocks come from full bands and a narrower
     * last one.
     */
    static Stream<AttentionShape> shapes() {
        return Stream.of(new AttentionShape(1, 1, 4, 1, 64), new AttentionShape(2, 17, 4, 1, 128),
                new AttentionShape(1, 128, 4, 4, 64), new AttentionShape(1, 128, 8, 2, 128),
                new AttentionShape(2, 200, 4, 1, 64), new AttentionShape(1, 200, 2, 2, 128),
                new AttentionShape(1, 1000, 2, 1, 64), new AttentionShape(3, 300, 12, 3, 128));
    }

    private static synchronized CudaAttention attention() {
        TestGpu.require();
        if (attention == null) {
            attention = new CudaAttention(CudaContext.get());
        }
        return attention;
    }

    /** Gaussian values times `scale`, rounded to BF16 (so the reference sees exactly what the GPU sees). */
    private static float[] random(Random rnd, int count, double scale) {
        float[] x = new float[count];
        for (int i = 0; i < count; i++) {
            x[i] = BFloat16.round((float) (rnd.nextGaussian() * scale));
        }
        return x;
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void forwardAndBackwardMatchTheReference(AttentionShape s) {
        CudaAttention cuda = attention();
        CudaBackend backend = TestGpu.require();
        Random rnd = new Random(s.seq() * 31L + s.headDim() + s.kvHeads());
        int qCols = s.heads() * s.headDim();
        int kvCols = s.kvHeads() * s.headDim();
        // q scaled up so that softmax rows are peaked rather than nearly uniform.
        float[] q = random(rnd, s.tokens() * qCols, 2.0);
        float[] k = random(rnd, s.tokens() * kvCols, 1.0);
        float[] v = random(rnd, s.tokens() * kvCols, 1.0);
        float[] dOut = random(rnd, s.tokens() * qCols, 1.0);
        Reference ref = new Reference(s, q, k, v, dOut);

        try (DeviceTensor qd = upload(backend, q, s.tokens(), qCols);
                DeviceTensor kd = upload(backend, k, s.tokens(), kvCols);
                DeviceTensor vd = upload(backend, v, s.tokens(), kvCols);
                DeviceTensor dOutD = upload(backend, dOut, s.tokens(), qCols)) {
            DeviceTensor[] fwd = cuda.forward(qd, kd, vd, s);
            DeviceTensor[] grads = cuda.backward(dOutD, qd, kd, vd, fwd[0], fwd[1], s);
            float[] out = download(backend, fwd[0]);
            float[] lse = download(backend, fwd[1]);
            float[] dq = download(backend, grads[0]);
            float[] dk = download(backend, grads[1]);
            float[] dv = download(backend, grads[2]);
            assertEquals(DType.F32, fwd[1].dtype());
            for (DeviceTensor t : fwd) {
                t.close();
            }
            for (DeviceTensor t : grads) {
                t.close();
            }
            double lseError = 0;
            for (int i = 0; i < lse.length; i++) {
                lseError = Math.max(lseError, Math.abs(lse[i] - ref.lse[i]));
            }
            double[] errors = {relativeError(out, ref.out), relativeError(dq, ref.dq), relativeError(dk, ref.dk),
                relativeError(dv, ref.dv)};
            System.out.printf("attention %s: lse max abs error %.2e; relative error out %.2e dq %.2e dk %.2e dv %.2e%n",
                    s, lseError, errors[0], errors[1], errors[2], errors[3]);
            assertTrue(lseError < LSE_TOLERANCE, "lse error " + lseError);
            String[] names = {"out", "dq", "dk", "dv"};
            for (int i = 0; i < errors.length; i++) {
                assertTrue(errors[i] < TOLERANCE, names[i] + " relative error " + errors[i] + " for " + s);
            }
        }
    }

    @Test
    void rejectsUnsupportedHeadSizesAndMismatchedTensors() {
        AttentionShape s = new AttentionShape(1, 4, 2, 1, 96);
        var e = assertThrows(IllegalArgumentException.class, () -> CudaAttention.check(s));
        assertTrue(e.getMessage().contains("headDim 64 and 128"), e.getMessage());
        assertTrue(CudaAttention.supportsHeadDim(64) && CudaAttention.supportsHeadDim(128));
        assertFalse(CudaAttention.supportsHeadDim(16) || CudaAttention.supportsHeadDim(96));
        AttentionShape ok = new AttentionShape(1, 4, 2, 1, 64);
        DeviceTensor wrongCols = new DeviceTensor(null, 4, 64, DType.BF16);
        var mismatch = assertThrows(IllegalArgumentException.class,
                () -> CudaAttention.check(ok, new CudaAttention.Operand("q", wrongCols, DType.BF16, 4, 128)));
        assertTrue(mismatch.getMessage().contains("q must be 4x128 BF16"), mismatch.getMessage());
        DeviceTensor f32 = new DeviceTensor(null, 4, 128, DType.F32);
        assertThrows(IllegalArgumentException.class,
                () -> CudaAttention.check(ok, new CudaAttention.Operand("q", f32, DType.BF16, 4, 128)));
    }

    @Test
    void theKernelsSharedMemoryFitsAnSm() {
        // an H100 / H200 (sm_90) gives a block at most 227 KiB (228 KiB per SM, 1 KiB of it reserved per block)
        int blockLimit = 227 * 1024;
        int smLimit = 228 * 1024;
        for (int d : new int[] {64, 128}) {
            assertTrue(CudaAttention.forwardSharedBytes(d) <= blockLimit
                    && CudaAttention.backwardSharedBytes(d) <= blockLimit, "d" + d);
        }
        // two forward blocks share an SM (their registers allow two), one backward block of 256 threads
        assertTrue(2 * (CudaAttention.forwardSharedBytes(128) + 1024) <= smLimit, "two forward blocks per SM");
        assertEquals(128 * 1024 + 2 * 128 * 64 * 2 + 1024 + 256, CudaAttention.backwardSharedBytes(128));
    }

    private static DeviceTensor upload(CudaBackend backend, float[] x, int rows, int cols) {
        return backend.upload(Tensor.of(x, rows, cols).to(DType.BF16));
    }

    private static float[] download(CudaBackend backend, DeviceTensor d) {
        return backend.download(d).toFloatArray();
    }

    /** ||actual - expected|| / ||expected||, with a floor of 0.01 RMS so that an all-zero gradient compares too. */
    private static double relativeError(float[] actual, double[] expected) {
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < expected.length; i++) {
            diff += (actual[i] - expected[i]) * (actual[i] - expected[i]);
            norm += expected[i] * expected[i];
        }
        return Math.sqrt(diff / Math.max(norm, 1e-4 * expected.length));
    }

    /** Causal softmax attention with grouped-query heads and its gradients, in double, row by row. */
    private static final class Reference {
        final double[] out;
        final double[] lse;
        final double[] dq;
        final double[] dk;
        final double[] dv;

        Reference(AttentionShape s, float[] q, float[] k, float[] v, float[] dOut) {
            int seq = s.seq();
            int d = s.headDim();
            int ldq = s.heads() * d;
            int ldk = s.kvHeads() * d;
            int group = s.heads() / s.kvHeads();
            double scale = 1 / Math.sqrt(d);
            out = new double[q.length];
            lse = new double[s.batch() * s.heads() * seq];
            dq = new double[q.length];
            dk = new double[k.length];
            dv = new double[v.length];
            double[] scores = new double[seq];
            double[] dp = new double[seq];
            for (int b = 0; b < s.batch(); b++) {
                for (int h = 0; h < s.heads(); h++) {
                    int kvh = h / group;
                    for (int i = 0; i < seq; i++) {
                        int qi = (b * seq + i) * ldq + h * d;
                        double max = Double.NEGATIVE_INFINITY;
                        for (int j = 0; j <= i; j++) {
                            int kj = (b * seq + j) * ldk + kvh * d;
                            double dot = 0;
                            for (int c = 0; c < d; c++) {
                                dot += (double) q[qi + c] * k[kj + c];
                            }
                            scores[j] = dot * scale;
                            max = Math.max(max, scores[j]);
                        }
                        double sum = 0;
                        for (int j = 0; j <= i; j++) {
                            sum += Math.exp(scores[j] - max);
                        }
                        double logSum = max + Math.log(sum);
                        lse[(b * s.heads() + h) * seq + i] = logSum;
                        double rowDot = 0;  // sum_j p_j dp_j = dOut_i . out_i
                        for (int j = 0; j <= i; j++) {
                            double p = Math.exp(scores[j] - logSum);
                            scores[j] = p;
                            int vj = (b * seq + j) * ldk + kvh * d;
                            double dpj = 0;
                            for (int c = 0; c < d; c++) {
                                out[qi + c] += p * v[vj + c];
                                dpj += (double) dOut[qi + c] * v[vj + c];
                            }
                            dp[j] = dpj;
                            rowDot += p * dpj;
                        }
                        for (int j = 0; j <= i; j++) {
                            double p = scores[j];
                            double ds = p * (dp[j] - rowDot) * scale;
                            int kj = (b * seq + j) * ldk + kvh * d;
                            for (int c = 0; c < d; c++) {
                                dq[qi + c] += ds * k[kj + c];
                                dk[kj + c] += ds * q[qi + c];
                                dv[kj + c] += p * dOut[qi + c];
                            }
                        }
                    }
                }
            }
        }
    }
}
