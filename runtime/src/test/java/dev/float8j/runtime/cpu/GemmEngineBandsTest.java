package dev.float8j.runtime.cpu;

import static org.junit.jupiter.api.Assertions.fail;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.ReferenceBackend;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The gemm engine with its tile accumulators capped at one packed A block, so that the rows are done in several
 * bands (each repacking B), the last band shorter than the others and ending in a partial tile, and every tile
 * written once with its scales and bias: against a scalar sum in double and the reference backend.
 */
class GemmEngineBandsTest {
    private static final ReferenceBackend REFERENCE = new ReferenceBackend();
    /** M spans three MC blocks and a partial tile; N and K are multiples of neither tile nor packing depth. */
    private static final int M = 2 * GemmEngine.MC + Microkernel.MR + 5;
    private static final int K = 300;
    private static final int N = Microkernel.NR + 7;

    private static Tensor random(SplittableRandom random, int rows, int cols) {
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (random.nextDouble() * 4 - 2);
        }
        return Tensor.of(v, rows, cols);
    }

    @Test
    void bandedF32MatmulWithBiasSumsLikeAScalarLoop() {
        SplittableRandom random = new SplittableRandom(11);
        Tensor a = random(random, M, K);
        Tensor b = random(random, N, K);
        float[] bias = random(random, 1, N).data();
        for (int threads : new int[] {1, 2}) {
            float[] c = GemmEngine.multiply(GemmOperand.of(a, 1), GemmOperand.of(b, 1), bias, new CpuThreads(threads),
                    1);
            float[] expected = new float[M * N];
            float[] absSums = new float[M * N];
            for (int i = 0; i < M; i++) {
                for (int j = 0; j < N; j++) {
                    double sum = 0;
                    double abs = 0;
                    for (int k = 0; k < K; k++) {
                        double p = (double) a.get(i, k) * b.get(j, k);
                        sum += p;
                        abs += Math.abs(p);
                    }
                    expected[i * N + j] = (float) (sum + bias[j]);
                    absSums[i * N + j] = (float) (abs + Math.abs(bias[j]));
                }
            }
            assertClose(expected, c, absSums, "F32 with bias, " + threads + " threads");
        }
    }

    @Test
    void bandedFp8GemmsMatchReference() {
        SplittableRandom random = new SplittableRandom(12);
        Tensor x = random(random, M, K);
        Tensor w = random(random, N, K);
        // tensorwise: scales applied once as tiles are written; 1x128 x 128x128: per K chunk; MX: folded
        ScalingGranularity[][] pairs = {
            {ScalingGranularity.TENSORWISE, ScalingGranularity.TENSORWISE},
            {ScalingGranularity.ROWWISE, ScalingGranularity.ROWWISE},
            {ScalingGranularity.TILE_1X128, ScalingGranularity.BLOCK_128X128},
            {ScalingGranularity.MX_1X32, ScalingGranularity.MX_1X32},
        };
        for (ScalingGranularity[] pair : pairs) {
            Float8Tensor qa = REFERENCE.quantize(x, QuantSpec.of(Fp8Format.E4M3FN, pair[0], 1));
            Float8Tensor qb = REFERENCE.quantize(w, QuantSpec.of(Fp8Format.E4M3FN, pair[1], 1));
            Tensor da = REFERENCE.dequantize(qa);
            Tensor db = REFERENCE.dequantize(qb);
            float[] absSums = new float[M * N];
            for (int i = 0; i < M; i++) {
                for (int j = 0; j < N; j++) {
                    double abs = 0;
                    for (int k = 0; k < K; k++) {
                        abs += Math.abs((double) da.get(i, k) * db.get(j, k));
                    }
                    absSums[i * N + j] = (float) abs;
                }
            }
            float[] c = GemmEngine.multiply(GemmOperand.of(qa), GemmOperand.of(qb), null, new CpuThreads(2), 1);
            assertClose(REFERENCE.gemm(qa, qb).data(), c, absSums, pair[0] + " x " + pair[1]);
        }
    }

    /** Two float32 sums of the same K terms in different orders, plus the scale products' roundings. */
    private static void assertClose(float[] expected, float[] actual, float[] absSums, String what) {
        double unit = Math.scalb(1.0, -24);
        for (int i = 0; i < expected.length; i++) {
            double bound = (2.0 * K + 6) * unit * absSums[i] + 1e-37;
            if (!(Math.abs((double) expected[i] - actual[i]) <= bound)) {
                fail(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i] + ", allowed " + bound);
            }
        }
    }
}
