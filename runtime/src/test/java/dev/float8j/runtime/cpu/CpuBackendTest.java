package dev.float8j.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.quant.NonFiniteException;
import dev.float8j.runtime.quant.QuantSpecs;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The CPU backend against {@link ReferenceBackend} on random data: quantization, dequantization and
 * requantization bit for bit; gemms within the float32 accumulation-order bound stated in {@link #assertClose}.
 */
class CpuBackendTest {
    private static final ReferenceBackend REFERENCE = new ReferenceBackend();
    /** Three threads on a two-core machine: uneven splits of rows and columns get exercised too. */
    private static final CpuBackend CPU = new CpuBackend(3);
    private static final CpuBackend SINGLE = new CpuBackend(1);

    /** Shapes that are not multiples of any vector, tile or block, plus single rows and columns. */
    private static final int[][] QUANT_SHAPES = {
        {1, 1}, {1, 300}, {300, 1}, {129, 257}, {257, 131}, {7, 33}, {130, 31}, {256, 256}, {33, 1000}, {600, 300}
    };

    /** Values over many magnitudes, with zeros and an all-zero stretch, so blocks get very different scales. */
    private static Tensor randomTensor(SplittableRandom random, int rows, int cols, DType dtype) {
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            double magnitude = Math.pow(10, random.nextDouble(-6, 4));
            v[i] = random.nextInt(20) == 0 ? 0f : (float) (random.nextGaussian() * magnitude);
        }
        for (int i = v.length / 3; i < Math.min(v.length, v.length / 3 + 40); i++) {
            v[i] = 0f;
        }
        Tensor t = Tensor.of(v, rows, cols);
        return dtype == DType.F32 ? t : t.to(DType.BF16);
    }

    private static void assertSameQuantization(Float8Tensor expected, Float8Tensor actual, String what) {
        assertEquals(expected.spec(), actual.spec(), what);
        assertArrayEquals(expected.shape(), actual.shape(), what);
        assertEquals(expected.originalDType(), actual.originalDType(), what);
        assertArrayEquals(expected.scales(), actual.scales(), what + ": scales");
        assertArrayEquals(expected.codes(), actual.codes(), what + ": codes");
    }

    @Test
    void quantizeDequantizeRequantizeMatchReferenceBitForBit() {
        SplittableRandom random = new SplittableRandom(1);
        for (int[] shape : QUANT_SHAPES) {
            for (DType dtype : DType.values()) {
                Tensor x = randomTensor(random, shape[0], shape[1], dtype);
                for (QuantSpec spec : QuantSpecs.all()) {
                    String what = spec + " " + x;
                    Float8Tensor expected = REFERENCE.quantize(x, spec);
                    Float8Tensor actual = CPU.quantize(x, spec);
                    assertSameQuantization(expected, actual, what);
                    assertArrayEquals(REFERENCE.dequantize(expected).data(), CPU.dequantize(expected).data(),
                            "dequantize " + what);
                    QuantSpec other = spec.otherAxis();
                    assertSameQuantization(REFERENCE.requantize(expected, other), CPU.requantize(expected, other),
                            "requantize " + what);
                }
            }
        }
    }

    /**
     * Patches of a few rows by 40 columns, each in one regime, so that blocks of every spec see uniform and
     * mixed data: narrow magnitudes (every scaled value a normal FP8 value), narrow magnitudes with zeros and
     * negative zeros, magnitudes over ten decades (subnormal codes), all zeros, and a few huge values among
     * small ones. Every seventh row is narrow throughout, so whole rows of narrow data occur too.
     */
    private static Tensor patchworkTensor(SplittableRandom random, int rows, int cols) {
        float[] v = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                int regime = r % 7 == 0 ? 0 : (r / 3 + c / 40) % 5;
                double g = random.nextGaussian();
                v[r * cols + c] = (float) switch (regime) {
                    case 0 -> Math.copySign(0.5 + random.nextDouble(), g) * 1e3;
                    case 1 -> random.nextInt(3) == 0 ? (random.nextBoolean() ? 0.0 : -0.0) : (1 + Math.abs(g)) * 1e-3;
                    case 2 -> g * Math.pow(10, random.nextDouble(-6, 4));
                    case 3 -> 0.0;
                    default -> random.nextInt(50) == 0 ? g * 1e30 : g;
                };
            }
        }
        return Tensor.of(v, rows, cols);
    }

    @Test
    void blocksOfUniformAndMixedRegimesMatchReferenceBitForBit() {
        SplittableRandom random = new SplittableRandom(7);
        for (int[] shape : new int[][] {{70, 517}, {257, 300}, {1, 1000}, {300, 5}}) {
            Tensor x = patchworkTensor(random, shape[0], shape[1]);
            for (DType dtype : DType.values()) {
                Tensor input = x.to(dtype);
                for (QuantSpec spec : QuantSpecs.all()) {
                    String what = spec + " " + input;
                    assertSameQuantization(REFERENCE.quantize(input, spec), CPU.quantize(input, spec), what);
                    assertSameQuantization(REFERENCE.quantize(input, spec), SINGLE.quantize(input, spec), what + " on one thread");
                }
                QuantSpec columns = QuantSpec.of(Fp8Format.E5M2, ScalingGranularity.TILE_1X128, 1);
                QuantSpec rowsSpec = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.BLOCK_128X128, 0);
                Float8Tensor[] both = CPU.quantizeBothAxes(input, columns, rowsSpec);
                assertSameQuantization(REFERENCE.quantize(input, columns), both[0], "both axes, columns " + input);
                assertSameQuantization(REFERENCE.quantize(input, rowsSpec), both[1], "both axes, rows " + input);
            }
        }
    }

    @Test
    void quantizeBothAxesMatchesTwoReferenceQuantizations() {
        SplittableRandom random = new SplittableRandom(2);
        ScalingGranularity[] g = ScalingGranularity.values();
        for (int[] shape : QUANT_SHAPES) {
            Tensor x = randomTensor(random, shape[0], shape[1], random.nextBoolean() ? DType.F32 : DType.BF16);
            for (ScalingGranularity columns : g) {
                for (ScalingGranularity rows : g) {
                    QuantSpec alongColumns = QuantSpec.of(Fp8Format.E4M3FN, columns, 1);
                    QuantSpec alongRows = QuantSpec.of(Fp8Format.E5M2, rows, 0);
                    Float8Tensor[] both = CPU.quantizeBothAxes(x, alongColumns, alongRows);
                    assertSameQuantization(REFERENCE.quantize(x, alongColumns), both[0], columns + " along columns");
                    assertSameQuantization(REFERENCE.quantize(x, alongRows), both[1], rows + " along rows");
                }
            }
        }
    }

    @Test
    void nonFiniteInputIsRefusedWithTheReferencesPosition() {
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            for (DType dtype : DType.values()) {
                Tensor x = randomTensor(new SplittableRandom(3), 300, 70, DType.F32);
                x.set(211, 13, bad);
                x.set(250, 2, bad);
                Tensor input = x.to(dtype);
                for (QuantSpec spec : QuantSpecs.all()) {
                    NonFiniteException expected = assertThrows(NonFiniteException.class, () -> REFERENCE.quantize(input, spec));
                    NonFiniteException actual = assertThrows(NonFiniteException.class, () -> CPU.quantize(input, spec));
                    assertEquals(expected.getMessage(), actual.getMessage());
                }
                assertThrows(NonFiniteException.class, () -> CPU.quantizeBothAxes(input,
                        QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TILE_1X128, 1),
                        QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TILE_1X128, 0)));
            }
        }
    }

    /**
     * Both backends add exact products (an FP8 or BF16 product fits in float32) in float32, in different
     * orders: the reference one K step at a time, the CPU backend in register accumulators per K segment
     * that are then added into C. Each sum of K terms is within gamma_K * sum|terms| of the exact one,
     * gamma_K ~ K * 2^-24, so the two differ by at most 2 * gamma_K * sum|terms|; the scale products add
     * two more roundings. The bound is computed per element from the dequantized operands.
     */
    private static void assertClose(Tensor expected, Tensor actual, float[] absSums, int depth, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what);
        float[] e = expected.data();
        float[] a = actual.data();
        double unit = Math.scalb(1.0, -24);
        for (int i = 0; i < e.length; i++) {
            double bound = (2.0 * depth + 4) * unit * absSums[i] + 1e-37;
            if (!(Math.abs((double) e[i] - a[i]) <= bound)) {
                fail(what + ": element " + i + " is " + a[i] + ", reference " + e[i] + ", allowed difference " + bound);
            }
        }
    }

    /** sum_k |A(i,k)| * |B(j,k)| of the logical matrices, in double. */
    private static float[] absoluteSums(Tensor a, int aAxis, Tensor b, int bAxis) {
        int depth = aAxis == 1 ? a.cols() : a.rows();
        int m = aAxis == 1 ? a.rows() : a.cols();
        int n = bAxis == 1 ? b.rows() : b.cols();
        float[] sums = new float[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < depth; k++) {
                    float x = aAxis == 1 ? a.get(i, k) : a.get(k, i);
                    float y = bAxis == 1 ? b.get(j, k) : b.get(k, j);
                    s += Math.abs((double) x * y);
                }
                sums[i * n + j] = (float) (s * (1 + 1e-6));
            }
        }
        return sums;
    }

    /**
     * The logical sizes M, K, N: single rows and columns, K below a block, K past the packing depth, and M past
     * the packed A block (MC = 384 rows with the 12-row tile of 512-bit vectors, 128 with the 4-row tile) with
     * M and N a multiple of neither tile, the output split by rows (M > N) and by columns.
     */
    private static final int[][] GEMM_SIZES = {
        {1, 1, 1}, {1, 300, 1}, {1, 40, 7}, {5, 1, 9}, {6, 31, 16}, {33, 20, 17}, {70, 129, 40}, {129, 257, 131},
        {13, 600, 21}, {100, 700, 120}, {401, 300, 70}, {25, 260, 403}
    };

    /** Tensor [rows, cols] that is contracted along axis and has free length f and depth k. */
    private static Tensor operand(SplittableRandom random, int free, int depth, int axis, DType dtype) {
        return axis == 1 ? randomTensor(random, free, depth, dtype) : randomTensor(random, depth, free, dtype);
    }

    @Test
    void fp8GemmsMatchReferenceForEveryGranularityPairingAndLayout() {
        SplittableRandom random = new SplittableRandom(4);
        ScalingGranularity[] g = ScalingGranularity.values();
        int caseIndex = 0;
        for (int[] size : GEMM_SIZES) {
            int m = size[0];
            int depth = size[1];
            int n = size[2];
            for (int aAxis = 0; aAxis < 2; aAxis++) {
                for (int bAxis = 0; bAxis < 2; bAxis++) {
                    Tensor x = operand(random, m, depth, aAxis, DType.F32);
                    Tensor w = operand(random, n, depth, bAxis, DType.F32);
                    for (ScalingGranularity ga : g) {
                        for (ScalingGranularity gb : g) {
                            // The largest size runs a rotating subset of pairings to keep the suite short.
                            if (m * depth * n > 1_000_000 && (caseIndex++ % 5) != 0) {
                                continue;
                            }
                            Float8Tensor qa = REFERENCE.quantize(x, QuantSpec.of(Fp8Format.E4M3FN, ga, aAxis));
                            Float8Tensor qb = REFERENCE.quantize(w, QuantSpec.of(Fp8Format.E5M2, gb, bAxis));
                            float[] sums = absoluteSums(REFERENCE.dequantize(qa), aAxis, REFERENCE.dequantize(qb), bAxis);
                            String what = "gemm " + m + "x" + depth + "x" + n + " " + qa + " . " + qb;
                            Tensor expected = REFERENCE.gemm(qa, qb);
                            assertClose(expected, CPU.gemm(qa, qb), sums, depth, what);
                            if (m * depth * n < 100_000) {
                                assertClose(expected, SINGLE.gemm(qa, qb), sums, depth, what + " on one thread");
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void linearLayerGemmsMatchReference() {
        // output = x.W^T, grad_input = dY.W, grad_weight = dY^T.x with 1x128 activations and 128x128 weights
        SplittableRandom random = new SplittableRandom(5);
        int m = 131;
        int k = 300;
        int n = 150;
        Tensor x = randomTensor(random, m, k, DType.BF16);
        Tensor w = randomTensor(random, n, k, DType.F32);
        Tensor dy = randomTensor(random, m, n, DType.F32);
        QuantSpec tile = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TILE_1X128, 1);
        QuantSpec block = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.BLOCK_128X128, 1);
        Float8Tensor[] xq = CPU.quantizeBothAxes(x, tile, tile);
        Float8Tensor[] dyq = CPU.quantizeBothAxes(dy, tile.withAxis(1), tile.withAxis(0));
        Float8Tensor wq = CPU.quantize(w, block);
        check(xq[0], wq, "output");
        check(dyq[0], wq.alongOtherAxis(), "grad_input");
        check(dyq[1], xq[1], "grad_weight");
    }

    private static void check(Float8Tensor a, Float8Tensor b, String what) {
        float[] sums = absoluteSums(REFERENCE.dequantize(a), a.axis(), REFERENCE.dequantize(b), b.axis());
        int depth = a.axis() == 1 ? a.cols() : a.rows();
        assertClose(REFERENCE.gemm(a, b), CPU.gemm(a, b), sums, depth, what);
    }

    @Test
    void highPrecisionMatmulsMatchReference() {
        SplittableRandom random = new SplittableRandom(6);
        for (int[] size : GEMM_SIZES) {
            for (DType dtype : DType.values()) {
                for (int aAxis = 0; aAxis < 2; aAxis++) {
                    for (int bAxis = 0; bAxis < 2; bAxis++) {
                        Tensor a = operand(random, size[0], size[1], aAxis, dtype);
                        Tensor b = operand(random, size[2], size[1], bAxis, dtype);
                        float[] sums = absoluteSums(a, aAxis, b, bAxis);
                        String what = "matmul " + a + " axis " + aAxis + " . " + b + " axis " + bAxis;
                        assertClose(REFERENCE.matmul(a, aAxis, b, bAxis), CPU.matmul(a, aAxis, b, bAxis), sums,
                                size[1], what);
                    }
                }
            }
        }
    }

    @Test
    void mismatchedDepthsAreRefused() {
        Tensor a = Tensor.zeros(DType.F32, 4, 5);
        Tensor b = Tensor.zeros(DType.F32, 4, 6);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CPU.matmul(a, 1, b, 1));
        assertEquals(assertThrows(IllegalArgumentException.class, () -> REFERENCE.matmul(a, 1, b, 1)).getMessage(),
                e.getMessage());
        assertEquals("cpu", CPU.name());
    }
}
