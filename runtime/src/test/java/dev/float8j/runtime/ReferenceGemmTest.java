package dev.float8j.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.backend.ReferenceBackend;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The three gemms of a linear layer on the reference backend, against a naive double-precision product of
 * the dequantized operands written here.
 *
 * <p>Tolerance: the backend sums fp32 products of FP8 codes (exact) over K chunks and multiplies each chunk by
 * (1/sa)·(1/sb); recursive fp32 summation of K terms plus a few roundings per chunk is off by at most about
 * (K + 8)·2^-24·Σ|a·b| (first order), so that is the bound asserted for every element.
 */
class ReferenceGemmTest {
    private final ReferenceBackend backend = new ReferenceBackend();

    /** Granularities of the activations and gradients, and of the weights, as recipes pair them. */
    record Recipe(ScalingGranularity activations, ScalingGranularity weights, Fp8Format gradFormat, boolean pow2) {
        @Override
        public String toString() {
            return activations + "/" + weights + "/" + gradFormat + (pow2 ? "/pow2" : "");
        }
    }

    static Stream<Recipe> recipes() {
        List<Recipe> recipes = new ArrayList<>();
        for (boolean pow2 : new boolean[] {false, true}) {
            for (ScalingGranularity g : ScalingGranularity.values()) {
                recipes.add(new Recipe(g, g, Fp8Format.E5M2, pow2));
            }
            recipes.add(new Recipe(ScalingGranularity.TILE_1X128, ScalingGranularity.BLOCK_128X128, Fp8Format.E4M3FN, pow2));
            recipes.add(new Recipe(ScalingGranularity.ROWWISE, ScalingGranularity.ROWWISE, Fp8Format.E4M3FN, pow2));
        }
        return recipes.stream();
    }

    /** Element (i, k) of an operand under the gemm convention: (i, k) along axis 1, (k, i) along axis 0. */
    private static double operand(Float8Tensor t, int free, int k) {
        return t.axis() == 1 ? QuantReference.dequantized(t, free, k) : QuantReference.dequantized(t, k, free);
    }

    private static void assertGemm(String what, Float8Tensor a, Float8Tensor b, Tensor c) {
        int depth = a.axis() == 1 ? a.cols() : a.rows();
        int m = a.axis() == 1 ? a.rows() : a.cols();
        int n = b.axis() == 1 ? b.rows() : b.cols();
        assertArrayEquals(new int[] {m, n}, c.shape(), what + ": shape");
        double[][] ak = new double[m][depth];
        double[][] bk = new double[n][depth];
        for (int k = 0; k < depth; k++) {
            for (int i = 0; i < m; i++) {
                ak[i][k] = operand(a, i, k);
            }
            for (int j = 0; j < n; j++) {
                bk[j][k] = operand(b, j, k);
            }
        }
        double bound = (depth + 8) * 0x1p-24;
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double sum = 0;
                double magnitude = 0;
                for (int k = 0; k < depth; k++) {
                    sum += ak[i][k] * bk[j][k];
                    magnitude += Math.abs(ak[i][k] * bk[j][k]);
                }
                double error = Math.abs(c.get(i, j) - sum);
                if (error > bound * magnitude + Float.MIN_NORMAL) {
                    fail(what + " [" + i + ", " + j + "]: " + c.get(i, j) + " vs " + sum + ", error " + error
                            + " > " + bound * magnitude);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("recipes")
    void theThreeGemmsOfALinearLayer(Recipe recipe) {
        for (int[] mnk : new int[][] {{130, 70, 300}, {33, 17, 20}, {5, 3, 1}}) {
            int m = mnk[0];
            int n = mnk[1];
            int k = mnk[2];
            Tensor x = QuantReference.randomTensor(1, m, k);
            Tensor w = QuantReference.randomTensor(2, n, k);
            Tensor dy = QuantReference.randomTensor(3, m, n);
            QuantSpec act = new QuantSpec(Fp8Format.E4M3FN, recipe.activations(), 1, recipe.pow2());
            QuantSpec wgt = new QuantSpec(Fp8Format.E4M3FN, recipe.weights(), 1, recipe.pow2());
            QuantSpec grad = new QuantSpec(recipe.gradFormat(), recipe.activations(), 1, recipe.pow2());
            String what = recipe + " " + m + "x" + n + "x" + k;

            Float8Tensor xq = backend.quantize(x, act);
            Float8Tensor wq = backend.quantize(w, wgt);
            assertGemm(what + " output", xq, wq, backend.gemm(xq, wq));

            Float8Tensor dyAlong1 = backend.quantize(dy, grad);
            Float8Tensor wAlong0 = recipe.weights().transposeable() ? wq.alongOtherAxis() : backend.quantize(w, wgt.withAxis(0));
            assertGemm(what + " grad_input", dyAlong1, wAlong0, backend.gemm(dyAlong1, wAlong0));

            Float8Tensor dyAlong0 = backend.quantize(dy, grad.withAxis(0));
            Float8Tensor xAlong0 = backend.quantize(x, act.withAxis(0));
            assertGemm(what + " grad_weight", dyAlong0, xAlong0, backend.gemm(dyAlong0, xAlong0));
        }
    }

    @Test
    void everyPairingOfGranularitiesEvenUnusualOnes() {
        // operands whose scales change at different K intervals (e.g. 32 and 128): chunks must follow the finer one
        Tensor x = QuantReference.randomTensor(8, 33, 300);
        Tensor w = QuantReference.randomTensor(9, 17, 300);
        for (ScalingGranularity ga : ScalingGranularity.values()) {
            for (ScalingGranularity gb : ScalingGranularity.values()) {
                Float8Tensor a = backend.quantize(x, QuantSpec.of(Fp8Format.E4M3FN, ga, 1));
                Float8Tensor b = backend.quantize(w, QuantSpec.of(Fp8Format.E5M2, gb, 1));
                assertGemm(ga + " x " + gb, a, b, backend.gemm(a, b));
                Float8Tensor a0 = backend.quantize(x, QuantSpec.of(Fp8Format.E4M3FN, ga, 0));
                Float8Tensor b0 = backend.quantize(QuantReference.randomTensor(10, 33, 17), QuantSpec.of(Fp8Format.E4M3FN, gb, 0));
                assertGemm(ga + " x " + gb + " along 0", b0, a0, backend.gemm(b0, a0));
            }
        }
    }

    @Test
    void exactlyRepresentableDataGivesTheExactProduct() {
        // small integers with power-of-two scales: every code, scale and partial sum is exact
        int m = 40;
        int n = 24;
        int k = 256;
        float[] a = new float[m * k];
        float[] b = new float[n * k];
        for (int i = 0; i < a.length; i++) {
            a[i] = (i * 7 % 9) - 4;
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = (i * 5 % 7) - 3;
        }
        for (ScalingGranularity g : ScalingGranularity.values()) {
            QuantSpec spec = new QuantSpec(Fp8Format.E4M3FN, g, 1, true);
            Tensor c = backend.gemm(backend.quantize(Tensor.of(a, m, k), spec), backend.quantize(Tensor.of(b, n, k), spec));
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    long exact = 0;
                    for (int kk = 0; kk < k; kk++) {
                        exact += (long) a[i * k + kk] * (long) b[j * k + kk];
                    }
                    assertEquals(exact, c.get(i, j), 0.0, g + " [" + i + ", " + j + "]");
                }
            }
        }
    }

    @Test
    void matmulForTheThreePairingsInF32AndBf16() {
        int m = 33;
        int n = 20;
        int k = 130;
        for (DType dtype : DType.values()) {
            Tensor x = QuantReference.randomTensor(4, m, k).to(dtype);
            Tensor w = QuantReference.randomTensor(5, n, k).to(dtype);
            Tensor dy = QuantReference.randomTensor(6, m, n).to(dtype);
            assertMatmul(dtype + " output", x, 1, w, 1, backend.matmul(x, 1, w, 1));
            assertMatmul(dtype + " grad_input", dy, 1, w, 0, backend.matmul(dy, 1, w, 0));
            assertMatmul(dtype + " grad_weight", dy, 0, x, 0, backend.matmul(dy, 0, x, 0));
        }
    }

    private static void assertMatmul(String what, Tensor a, int aAxis, Tensor b, int bAxis, Tensor c) {
        int depth = aAxis == 1 ? a.cols() : a.rows();
        int m = aAxis == 1 ? a.rows() : a.cols();
        int n = bAxis == 1 ? b.rows() : b.cols();
        assertArrayEquals(new int[] {m, n}, c.shape(), what);
        assertEquals(DType.F32, c.dtype());
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double sum = 0;
                double magnitude = 0;
                for (int kk = 0; kk < depth; kk++) {
                    double p = (double) (aAxis == 1 ? a.get(i, kk) : a.get(kk, i)) * (bAxis == 1 ? b.get(j, kk) : b.get(kk, j));
                    sum += p;
                    magnitude += Math.abs(p);
                }
                assertEquals(sum, c.get(i, j), (depth + 2) * 0x1p-24 * magnitude, what + " [" + i + ", " + j + "]");
            }
        }
    }

    @Test
    void mismatchedShapesNameBothShapes() {
        QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 1);
        Float8Tensor x = backend.quantize(QuantReference.randomTensor(1, 8, 64), spec);
        Float8Tensor w = backend.quantize(QuantReference.randomTensor(2, 16, 65), spec);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> backend.gemm(x, w));
        assertTrue(e.getMessage().contains("[8, 64]") && e.getMessage().contains("[16, 65]"), e.getMessage());

        Tensor a = QuantReference.randomTensor(1, 8, 64);
        Tensor b = QuantReference.randomTensor(1, 9, 64);
        IllegalArgumentException m = assertThrows(IllegalArgumentException.class, () -> backend.matmul(a, 0, b, 0));
        assertTrue(m.getMessage().contains("[8, 64]") && m.getMessage().contains("[9, 64]"), m.getMessage());
        assertThrows(IllegalArgumentException.class, () -> backend.matmul(a, 2, b, 1));
    }
}
