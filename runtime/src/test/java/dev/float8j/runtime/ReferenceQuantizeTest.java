package dev.float8j.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.Gemm;
import dev.float8j.plan.Operand;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.debug.Site;
import dev.float8j.runtime.nn.Quantize;
import dev.float8j.runtime.quant.NonFiniteException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/** Quantization on the reference backend against the scale formula and block shapes written out in the test. */
class ReferenceQuantizeTest {
    private final ReferenceBackend backend = new ReferenceBackend();

    /** Shapes with partial last blocks on both sides, single rows and columns, K below a block, and rank 3. */
    static final int[][] SHAPES = {{1, 1}, {1, 300}, {300, 1}, {129, 257}, {7, 33}, {256, 128}, {3, 4, 40}};

    static Stream<QuantSpec> specs() {
        List<QuantSpec> specs = new ArrayList<>();
        for (Fp8Format format : Fp8Format.values()) {
            for (ScalingGranularity g : ScalingGranularity.values()) {
                for (int axis = 0; axis < 2; axis++) {
                    for (boolean pow2 : new boolean[] {false, true}) {
                        specs.add(new QuantSpec(format, g, axis, pow2));
                    }
                }
            }
        }
        return specs.stream();
    }

    private static void assertMatchesReference(Tensor x, Float8Tensor q, QuantSpec spec) {
        String what = spec + " of " + Arrays.toString(x.shape());
        float[][] m = QuantReference.matrix(x);
        float[] expectedScales = QuantReference.scales(m, spec);
        assertArrayEquals(expectedScales, q.scales(), what + ": scales");
        assertArrayEquals(x.shape(), q.shape(), what);
        assertEquals(spec, q.spec());
        assertEquals(x.dtype(), q.originalDType());
        for (int r = 0; r < m.length; r++) {
            for (int c = 0; c < m[0].length; c++) {
                int b = QuantReference.blockIndex(spec.granularity(), spec.axis(), m.length, m[0].length, r, c);
                float scale = expectedScales[b];
                byte expected = spec.format().encodeSaturating(m[r][c] * scale);
                byte actual = q.codes()[r * m[0].length + c];
                if (expected != actual) {
                    fail(what + ": element [" + r + ", " + c + "] = " + m[r][c] + " gave code " + actual + ", expected "
                            + expected);
                }
                assertEquals(scale, q.scale(r, c), what);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("specs")
    void codesAndScalesFollowTheFormulaForEveryShape(QuantSpec spec) {
        long seed = 1;
        for (int[] shape : SHAPES) {
            Tensor x = QuantReference.randomTensor(seed++, shape);
            assertMatchesReference(x, backend.quantize(x, spec), spec);
        }
    }

    @ParameterizedTest
    @MethodSource("specs")
    void bf16InputIsQuantizedFromItsBf16Values(QuantSpec spec) {
        Tensor x = QuantReference.randomTensor(42, 129, 257).to(DType.BF16);
        Float8Tensor q = backend.quantize(x, spec);
        assertEquals(DType.BF16, q.originalDType());
        assertMatchesReference(x, q, spec);
    }

    @ParameterizedTest
    @MethodSource("specs")
    void dequantizeIsCodeOverScale(QuantSpec spec) {
        Tensor x = QuantReference.randomTensor(7, 129, 257);
        Float8Tensor q = backend.quantize(x, spec);
        Tensor d = backend.dequantize(q);
        assertEquals(DType.F32, d.dtype());
        assertArrayEquals(x.shape(), d.shape());
        float fmax = spec.format().max();
        for (int r = 0; r < x.rows(); r++) {
            for (int c = 0; c < x.cols(); c++) {
                double expected = QuantReference.dequantized(q, r, c);
                // float32 division is correctly rounded, and so is a double quotient of floats rounded to float
                assertEquals((float) expected, d.get(r, c), 0.0, spec + " at " + r + "," + c);
                // the quantization error is at most half a step of the format at x*scale (relative 2^-(m+1)),
                // or half the smallest subnormal step
                double scale = q.scale(r, c);
                double scaled = x.get(r, c) * scale;
                double step = stepAt(spec.format(), Math.min(Math.abs(scaled), fmax));
                assertTrue(Math.abs(scaled - expected * scale) <= step / 2 * (1 + 1e-6),
                        spec + " error at " + r + "," + c + ": " + x.get(r, c) + " -> " + expected);
            }
        }
    }

    /** The distance between adjacent values of the format around a magnitude within its range. */
    private static double stepAt(Fp8Format f, double magnitude) {
        int exponent = Math.max(Math.getExponent(Math.max(magnitude, Double.MIN_NORMAL)), Math.getExponent(f.minNormal()));
        return Math.scalb(1.0, exponent - f.mantissaBits());
    }

    @Test
    void partialLastBlocksHaveScalesOfTheirOwn() {
        float[] row = new float[300];
        Arrays.fill(row, 0, 128, 1f);
        Arrays.fill(row, 128, 256, 2f);
        Arrays.fill(row, 256, 300, 4f);
        Float8Tensor q = backend.quantize(Tensor.of(row, 1, 300), QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TILE_1X128, 1));
        assertArrayEquals(new float[] {448f, 224f, 112f}, q.scales(), "three tiles: 128 + 128 + 44 elements");
        assertEquals(1, q.scaleRows());
        assertEquals(3, q.scaleCols());
        for (int c = 0; c < 300; c++) {
            assertEquals(448f, q.format().decode(q.codes()[c]), "every tile's amax maps to fmax");
        }
        Float8Tensor blocks = backend.quantize(QuantReference.randomTensor(3, 129, 257),
                QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.BLOCK_128X128, 0));
        assertEquals(2, blocks.scaleRows());
        assertEquals(3, blocks.scaleCols());
        assertEquals(6, blocks.scales().length);
    }

    @ParameterizedTest
    @MethodSource("specs")
    void allZerosGiveZeroCodesAndFiniteScales(QuantSpec spec) {
        Tensor zeros = Tensor.zeros(DType.F32, 129, 257);
        Float8Tensor q = backend.quantize(zeros, spec);
        float expected = QuantReference.scale(0f, spec.format().max(), spec.powerOfTwoScales());
        for (float s : q.scales()) {
            assertTrue(Float.isFinite(s) && s > 0, spec + " scale " + s);
            assertEquals(expected, s);
        }
        for (byte code : q.codes()) {
            assertEquals(0, code);
        }
        for (float v : backend.dequantize(q).data()) {
            assertEquals(0f, v);
        }
    }

    @ParameterizedTest
    @EnumSource(ScalingGranularity.class)
    void nanAndInfinityAreRefusedNamingTheElement(ScalingGranularity g) {
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            Tensor x = QuantReference.randomTensor(5, 40, 300);
            x.set(17, 230, bad);
            for (int axis = 0; axis < 2; axis++) {
                QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, g, axis);
                NonFiniteException e = assertThrows(NonFiniteException.class, () -> backend.quantize(x, spec));
                assertEquals(17, e.row());
                assertEquals(230, e.col());
                assertEquals(Float.floatToRawIntBits(bad), Float.floatToRawIntBits(e.value()));
                assertTrue(e.getMessage().contains("[17, 230]") && e.getMessage().contains(Float.toString(bad)),
                        e.getMessage());
            }
        }
    }

    @Test
    void quantizeAtASiteNamesTheModule() {
        Tensor x = QuantReference.randomTensor(5, 8, 64);
        x.set(3, 9, Float.NaN);
        Site site = new Site("decoder.layers.3.mlp.up", Gemm.OUTPUT, Operand.INPUT);
        NonFiniteException e = assertThrows(NonFiniteException.class,
                () -> Quantize.quantize(backend, x, QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 1), site));
        assertTrue(e.getMessage().contains("decoder.layers.3.mlp.up"), e.getMessage());
        assertTrue(e.getMessage().contains("[3, 9]"), e.getMessage());
        assertEquals(3, e.row());
        assertEquals(9, e.col());
        NonFiniteException both = assertThrows(NonFiniteException.class,
                () -> Quantize.quantizeBothAxes(backend, x, QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 1),
                        site, QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 0),
                        new Site("decoder.layers.3.mlp.up", Gemm.GRAD_WEIGHT, Operand.INPUT)));
        assertTrue(both.getMessage().contains("decoder.layers.3.mlp.up"), both.getMessage());
    }

    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    void mxScalesArePowersOfTwoAndNothingSaturates(Fp8Format format) {
        for (int axis = 0; axis < 2; axis++) {
            Tensor x = QuantReference.randomTensor(11, 129, 257);
            QuantSpec spec = QuantSpec.of(format, ScalingGranularity.MX_1X32, axis);
            assertTrue(spec.powerOfTwoScales(), "MX implies power-of-two scales");
            Float8Tensor q = backend.quantize(x, spec);
            assertMatchesReference(x, q, spec);
            byte[] e8m0 = q.e8m0Scales();
            float[][] m = QuantReference.matrix(x);
            float[] amax = new float[q.scales().length];
            for (int r = 0; r < m.length; r++) {
                for (int c = 0; c < m[0].length; c++) {
                    int b = QuantReference.blockIndex(spec.granularity(), axis, m.length, m[0].length, r, c);
                    amax[b] = Math.max(amax[b], Math.abs(m[r][c]));
                }
            }
            for (int b = 0; b < e8m0.length; b++) {
                double scale = q.scales()[b];
                assertEquals(1 / scale, E8M0.decode(e8m0[b]), 0.0, "E8M0 holds the dequantization multiplier 1/scale");
                assertEquals(Math.pow(2, Math.round(Math.log(scale) / Math.log(2))), scale, 0.0, "a power of two");
                // the largest power of two that keeps the block's amax within the format: no element saturates
                assertTrue(amax[b] * scale <= format.max(), "block " + b + " saturates: " + amax[b] * scale);
                assertTrue(amax[b] * scale * 2 > format.max(), "block " + b + " wastes a binade");
            }
        }
    }

    @Test
    void mxRoundsTheScaleExponentUpWhereOcpsFloorRuleWouldClip() {
        // amax 1.9: OCP's X = 2^(floor(log2 1.9) - 8) = 2^-8 would map it to 486.4, past 448, and clip.
        float[] block = new float[32];
        block[0] = 1.9f;
        block[1] = -1.9f;
        block[2] = 1f;
        Float8Tensor q = backend.quantize(Tensor.of(block, 1, 32), QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.MX_1X32, 1));
        assertEquals(128f, q.scales()[0], "2^floor(log2(448 / 1.9)) = 2^7");
        assertEquals(-7, E8M0.exponent(q.e8m0Scales()[0]));
        assertEquals(1.9f * 128, q.format().decode(q.codes()[0]), 8f, "243.2 rounds to 240 or 256, not clipped");
        assertEquals(-q.format().decode(q.codes()[0]), q.format().decode(q.codes()[1]));
        // where the amax's mantissa fits under fmax's (1.75), the two rules agree: amax 1.5 gives 2^8 = OCP's 2^-(0-8)
        block[0] = 1.5f;
        block[1] = 0f;
        Float8Tensor agree = backend.quantize(Tensor.of(block, 1, 32), QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.MX_1X32, 1));
        assertEquals(256f, agree.scales()[0]);
    }

    @Test
    void powerOfTwoScalesAreAtMostTheExactScale() {
        Tensor x = QuantReference.randomTensor(13, 64, 64);
        Float8Tensor exact = backend.quantize(x, QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 1));
        Float8Tensor pow2 = backend.quantize(x, new QuantSpec(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 1, true));
        for (int i = 0; i < exact.scales().length; i++) {
            assertTrue(pow2.scales()[i] <= exact.scales()[i] && pow2.scales()[i] * 2 > exact.scales()[i]);
        }
        assertThrows(IllegalStateException.class, exact::e8m0Scales, "only power-of-two scales have an E8M0 form");
    }

    @Test
    void badSpecsAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 2));
        assertTrue(e.getMessage().contains("2"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> QuantSpec.of(null, ScalingGranularity.ROWWISE, 1));
        assertThrows(IllegalArgumentException.class, () -> QuantSpec.of(Fp8Format.E5M2, null, 1));
        assertThrows(NullPointerException.class, () -> backend.quantize(Tensor.zeros(DType.F32, 2, 2), null));
    }
}
