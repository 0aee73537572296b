package dev.float8j.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.BFloat16;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.ReferenceBackend;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * oneDNN's BF16 matmul path against {@link ReferenceBackend}, on whatever x86-64 CPU runs the tests (oneDNN
 * emulates BF16 where the CPU lacks it, with the same results): every granularity that goes through oneDNN, both
 * formats, all four axis combinations, sizes that are multiples of nothing; the fallbacks and the error paths.
 * The library comes from the test-scope org.bytedeco:dnnl jar.
 */
class OneDnnGemmTest {
    private static final ReferenceBackend REFERENCE = new ReferenceBackend();
    private static final int[][] SIZES = {{37, 301, 53}, {1, 33, 7}, {130, 97, 65}, {5, 1, 3}};
    /** The granularities of A and B whose scales oneDNN's gemm takes out of the K sum. */
    private static final ScalingGranularity[][] PAIRS = {
        {ScalingGranularity.TENSORWISE, ScalingGranularity.TENSORWISE},
        {ScalingGranularity.ROWWISE, ScalingGranularity.ROWWISE},
        {ScalingGranularity.TENSORWISE, ScalingGranularity.ROWWISE},
        {ScalingGranularity.MX_1X32, ScalingGranularity.MX_1X32},
    };

    private static CpuBackend onednn;
    private static CpuBackend vectorOnly;
    /** The oneDNN gemm itself, on two threads, to call directly. */
    private static OneDnnGemm direct;
    /** Why oneDNN has no BF16 matmul on this CPU, or null when it has one. */
    private static String whyNoBf16Matmul;

    @BeforeAll
    static void loadLibrary() {
        Assumptions.assumeTrue(System.getProperty("os.arch").equals("amd64")
                && System.getProperty("os.name").equals("Linux"), "the oneDNN jar on the test classpath is linux-x86_64");
        vectorOnly = new CpuBackend(2, 1L << 24, "off");
        try {
            onednn = new CpuBackend(3, 1L << 24, "on");
            direct = MatrixUnitPath.select("on", new CpuThreads(2)).gemm();
        } catch (OneDnnUnavailableException e) {
            // below AVX-512 oneDNN has no BF16 matmul: the tests that run one skip, the others still run
            whyNoBf16Matmul = e.getMessage();
        }
    }

    private static void needsBf16Matmul() {
        Assumptions.assumeTrue(whyNoBf16Matmul == null, () -> "skipped: " + whyNoBf16Matmul);
    }

    @Test
    void aCpuWithoutBf16MatmulIsNamedWhenOneDnnIsForcedAndAutoFallsBack() {
        Assumptions.assumeTrue(whyNoBf16Matmul != null, "this CPU has oneDNN's BF16 matmul");
        assertTrue(whyNoBf16Matmul.contains("no BF16 matmul for this CPU"), whyNoBf16Matmul);
        MatrixUnitPath auto = MatrixUnitPath.select("auto", new CpuThreads(1));
        assertNull(auto.gemm());
        assertTrue(auto.description().startsWith("Vector API"), auto.description());
    }

    private static Tensor random(SplittableRandom random, int rows, int cols) {
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            // Magnitudes over several decades, so rows and blocks get different scales and subnormal codes occur.
            v[i] = (float) (random.nextGaussian() * Math.pow(10, random.nextDouble(-3, 3)));
        }
        return Tensor.of(v, rows, cols);
    }

    /** A [free, depth] (axis 1) or [depth, free] (axis 0) operand quantized with spec. */
    private static Float8Tensor operand(SplittableRandom random, int free, int depth, QuantSpec spec) {
        Tensor x = spec.axis() == 1 ? random(random, free, depth) : random(random, depth, free);
        return REFERENCE.quantize(x, spec);
    }

    /**
     * Exact products summed in F32 in two orders differ by at most 2 * gamma_K * sum|terms| (gamma_K ~ K * 2^-24),
     * plus two roundings of the scale products; sum|terms| from the reference's dequantized operands, in double.
     */
    private static void assertClose(Float8Tensor a, Float8Tensor b, Tensor expected, Tensor actual, String what) {
        assertClose(a, b, expected, actual, what, 0);
    }

    /** As above, allowing also relative times the reference's magnitude (a rounding of the result). */
    private static void assertClose(Float8Tensor a, Float8Tensor b, Tensor expected, Tensor actual, String what,
            double relative) {
        assertArrayEquals(expected.shape(), actual.shape(), what);
        Tensor da = REFERENCE.dequantize(a);
        Tensor db = REFERENCE.dequantize(b);
        int depth = a.axis() == 1 ? a.cols() : a.rows();
        int n = expected.cols();
        double unit = Math.scalb(1.0, -24);
        for (int i = 0; i < expected.rows(); i++) {
            for (int j = 0; j < n; j++) {
                double sum = 0;
                for (int k = 0; k < depth; k++) {
                    float x = a.axis() == 1 ? da.get(i, k) : da.get(k, i);
                    float y = b.axis() == 1 ? db.get(j, k) : db.get(k, j);
                    sum += Math.abs((double) x * y);
                }
                float e = expected.get(i, j);
                double bound = (2.0 * depth + 4) * unit * sum * (1 + 1e-6) + 1e-37 + relative * Math.abs(e);
                float c = actual.get(i, j);
                if (!(Math.abs((double) e - c) <= bound)) {
                    fail(what + ": C[" + i + "][" + j + "] is " + c + ", reference " + e + ", allowed difference " + bound);
                }
            }
        }
    }

    @Test
    void everyGranularityThatGoesThroughOneDnnMatchesTheReference() {
        needsBf16Matmul();
        SplittableRandom random = new SplittableRandom(11);
        for (int[] size : SIZES) {
            int m = size[0];
            int depth = size[1];
            int n = size[2];
            for (ScalingGranularity[] pair : PAIRS) {
                for (Fp8Format format : Fp8Format.values()) {
                    for (int aAxis = 0; aAxis < 2; aAxis++) {
                        for (int bAxis = 0; bAxis < 2; bAxis++) {
                            Float8Tensor a = operand(random, m, depth, QuantSpec.of(format, pair[0], aAxis));
                            Float8Tensor b = operand(random, n, depth, QuantSpec.of(Fp8Format.E4M3FN, pair[1], bAxis));
                            String what = m + "x" + depth + "x" + n + " " + a.spec() + " x " + b.spec();
                            assertTrue(OneDnnGemm.accepts(a, b), what);
                            float[] c = new float[m * n];
                            assertTrue(direct.multiply(a, b, null, c), what);
                            assertNotNull(direct.implementation(m, n, depth, aAxis, bAxis), what);
                            assertClose(a, b, REFERENCE.gemm(a, b), Tensor.of(c, m, n), what);
                        }
                    }
                }
            }
        }
    }

    /**
     * A BF16 result from oneDNN's BF16-output matmul (scales and bias as post-ops, one rounding) against the
     * reference's F32 result: within the F32 bound of {@link #assertClose} plus half a BF16 unit (2^-8 of the
     * value, relative), for every granularity it takes (A's scales constant along its rows), both axes, with and
     * without bias; a rowwise A gets no BF16 destination (see OneDnnGemm.acceptsBf16Output), and its result is the
     * F32 one rounded once, bit for bit; the BF16 result through the backend is as close.
     */
    @Test
    void aBf16ResultComesFromOneRoundingOfTheScaledSums() {
        needsBf16Matmul();
        SplittableRandom random = new SplittableRandom(15);
        for (int[] size : SIZES) {
            int m = size[0];
            int depth = size[1];
            int n = size[2];
            for (ScalingGranularity[] pair : PAIRS) {
                for (int aAxis = 0; aAxis < 2; aAxis++) {
                    for (boolean withBias : new boolean[] {false, true}) {
                        Float8Tensor a = operand(random, m, depth, QuantSpec.of(Fp8Format.E4M3FN, pair[0], aAxis));
                        Float8Tensor b = operand(random, n, depth, QuantSpec.of(Fp8Format.E5M2, pair[1], 1));
                        Tensor bias = withBias ? random(random, 1, n) : null;
                        String what = m + "x" + depth + "x" + n + " " + a.spec() + " x " + b.spec() + " bias " + withBias;
                        Tensor expected = REFERENCE.gemm(a, b, bias, DType.F32);
                        float[] biasValues = bias == null ? null : bias.data();
                        short[] c = new short[m * n];
                        assertTrue(direct.multiplyToBf16(a, b, biasValues, c), what);
                        assertClose(a, b, expected, Tensor.ofBf16(c, m, n), what, 0x1p-8);
                        assertThrows(IllegalArgumentException.class,
                                () -> direct.multiplyToBf16(a, b, biasValues, new short[m * n + 1]), what);
                        if (pair[0] == ScalingGranularity.ROWWISE) {
                            // no BF16 destination for a per-row factor: the F32 sums, rounded once as they are copied
                            assertFalse(OneDnnGemm.acceptsBf16Output(a, b), what);
                            float[] f32 = new float[m * n];
                            assertTrue(direct.multiply(a, b, biasValues, f32), what);
                            for (int i = 0; i < f32.length; i++) {
                                assertEquals(BFloat16.fromFloat(f32[i]), c[i], what + " element " + i);
                            }
                        }
                        Tensor throughBackend = onednn.gemm(a, b, bias, DType.BF16);
                        assertEquals(DType.BF16, throughBackend.dtype(), what);
                        assertClose(a, b, expected, throughBackend, what + " through the backend", 0x1p-8);
                    }
                }
            }
        }
    }

    @Test
    void aReleasedBf16ResultsArrayHoldsTheNextResult() {
        needsBf16Matmul();
        SplittableRandom random = new SplittableRandom(16);
        QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1);
        Float8Tensor a = operand(random, 33, 64, spec);
        Float8Tensor b = operand(random, 17, 64, spec);
        Float8Tensor other = operand(random, 33, 64, spec);
        Tensor first = onednn.gemm(a, b, null, DType.BF16);
        short[] array = first.bf16Data();
        onednn.release(first);
        Tensor second = onednn.gemm(other, b, null, DType.BF16);
        assertSame(array, second.bf16Data(), "the released result's array is reused");
        assertClose(other, b, REFERENCE.gemm(other, b, null, DType.F32), second, "the reused array's result", 0x1p-8);
    }

    /** The F32 result of the direct oneDNN gemm (m x n), which must take the operands. */
    private Tensor multiplied(Float8Tensor a, Float8Tensor b, int m, int n) {
        float[] c = new float[m * n];
        assertTrue(direct.multiply(a, b, null, c), a.spec() + " x " + b.spec());
        return Tensor.of(c, m, n);
    }

    @Test
    void powerOfTwoTensorwiseAndBlocksSpanningKAlsoGoThroughOneDnn() {
        needsBf16Matmul();
        SplittableRandom random = new SplittableRandom(12);
        QuantSpec pow2 = new QuantSpec(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1, true);
        QuantSpec tile = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TILE_1X128, 1);
        QuantSpec block = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.BLOCK_128X128, 1);
        Float8Tensor a = operand(random, 45, 100, pow2);
        Float8Tensor b = operand(random, 19, 100, pow2.withAxis(0));
        assertClose(a, b, REFERENCE.gemm(a, b), multiplied(a, b, 45, 19), "pow2 tensorwise");
        // K = 100 fits in one 128-long block: the scales are constant along K.
        Float8Tensor t = operand(random, 200, 100, tile);
        Float8Tensor w = operand(random, 150, 100, block);
        assertTrue(OneDnnGemm.accepts(t, w));
        assertClose(t, w, REFERENCE.gemm(t, w), multiplied(t, w, 200, 150), "1x128 x 128x128, K 100");
    }

    @Test
    void blockScalesThatChangeAlongKStayOnTheVectorPathAndStillMatch() {
        needsBf16Matmul();
        SplittableRandom random = new SplittableRandom(13);
        Float8Tensor a = operand(random, 33, 300, QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TILE_1X128, 1));
        Float8Tensor b = operand(random, 29, 300, QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.BLOCK_128X128, 1));
        assertFalse(OneDnnGemm.accepts(a, b));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> direct.multiply(a, b, null, new float[33 * 29]));
        assertTrue(e.getMessage().contains("change along K"), e.getMessage());
        assertClose(a, b, REFERENCE.gemm(a, b), onednn.gemm(a, b), "1x128 x 128x128 through the backend");
    }

    @Test
    void theBackendRoutesThroughOneDnnWithBiasAndOutputType() {
        needsBf16Matmul();
        SplittableRandom random = new SplittableRandom(14);
        Float8Tensor a = operand(random, 23, 77, QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 1));
        Float8Tensor b = operand(random, 41, 77, QuantSpec.of(Fp8Format.E5M2, ScalingGranularity.ROWWISE, 1));
        Tensor bias = random(random, 1, 41);
        Tensor expected = REFERENCE.gemm(a, b, bias, DType.F32);
        Tensor c = onednn.gemm(a, b, bias, DType.F32);
        assertClose(a, b, expected, c, "rowwise with bias");
        assertEquals(DType.BF16, onednn.gemm(a, b, bias, DType.BF16).dtype());
        assertTrue(onednn.gemmPath().startsWith("oneDNN 3."), onednn.gemmPath());
        assertTrue(vectorOnly.gemmPath().startsWith("Vector API"), vectorOnly.gemmPath());
        assertClose(a, b, expected, vectorOnly.gemm(a, b, bias, DType.F32), "rowwise with bias, Vector API");
    }

    @Test
    void aFoldedScaleThatLeavesBf16RangeFallsBackToTheVectorPath() {
        needsBf16Matmul();
        // The smallest E4M3 subnormal (code 1, 2^-9) times 1 / 2^127 is 2^-136: a float subnormal, and AMX flushes
        // BF16 subnormals, so the fold is refused and the backend takes the Vector API path.
        int depth = 64;
        byte[] codes = new byte[4 * depth];
        codes[0] = 1;
        codes[5] = 0x38; // 1.0
        float[] scales = new float[4 * (depth / 32)];
        java.util.Arrays.fill(scales, 1f);
        scales[0] = Math.scalb(1f, 127);
        QuantSpec mx = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.MX_1X32, 1);
        Float8Tensor a = new Float8Tensor(codes, scales, mx, DType.F32, 4, depth);
        Float8Tensor b = new Float8Tensor(codes.clone(), scales.clone(), mx, DType.F32, 4, depth);
        float[] untouched = new float[16];
        java.util.Arrays.fill(untouched, 7f);
        assertFalse(direct.multiply(a, b, null, untouched));
        for (float v : untouched) {
            assertEquals(7f, v, "a refused fold leaves the result array unwritten");
        }
        assertClose(a, b, REFERENCE.gemm(a, b), onednn.gemm(a, b), "extreme MX scale");
    }

    @Test
    void mismatchedDepthIsRefused() {
        needsBf16Matmul();
        SplittableRandom random = new SplittableRandom(15);
        QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1);
        Float8Tensor a = operand(random, 8, 40, spec);
        Float8Tensor b = operand(random, 8, 41, spec);
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> direct.multiply(a, b, null, new float[64]));
        assertTrue(refused.getMessage().contains("40") && refused.getMessage().contains("41"), refused.getMessage());
        assertThrows(IllegalArgumentException.class, () -> onednn.gemm(a, b));
    }

    @Test
    void aMissingLibraryIsReportedWithWhatWasTriedAndHowToProvideIt() {
        OneDnnUnavailableException e = assertThrows(OneDnnUnavailableException.class,
                () -> OneDnnLibrary.open("/nonexistent/float8j/libdnnl.so.3"));
        assertTrue(e.getMessage().contains("/nonexistent/float8j/libdnnl.so.3"), e.getMessage());
        assertTrue(e.getMessage().contains("org.bytedeco:dnnl"), e.getMessage());
        IllegalArgumentException mode = assertThrows(IllegalArgumentException.class,
                () -> MatrixUnitPath.select("sometimes", new CpuThreads(1)));
        assertTrue(mode.getMessage().contains("auto, on or off"), mode.getMessage());
        MatrixUnitPath off = MatrixUnitPath.select("off", new CpuThreads(1));
        assertNull(off.gemm());
        assertTrue(off.description().contains("float8j.onednn=off"), off.description());
    }
}
