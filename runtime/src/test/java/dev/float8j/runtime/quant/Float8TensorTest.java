package dev.float8j.runtime.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import org.junit.jupiter.api.Test;

class Float8TensorTest {
    private static final QuantSpec TILES = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TILE_1X128, 1);

    @Test
    void blockGridOfPartialBlocks() {
        Float8Tensor t = new Float8Tensor(new byte[3 * 300], new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9}, TILES, DType.F32, 3, 300);
        assertEquals(1, t.blockRows());
        assertEquals(128, t.blockCols());
        assertEquals(3, t.scaleRows());
        assertEquals(3, t.scaleCols());
        assertEquals(9f, t.scale(2, 299));
        assertEquals(5f, t.scale(1, 128));
        assertEquals(3 * 300 + 4 * 9, t.bytes());
    }

    @Test
    void codesMustFillTheShape() {
        // 24 codes would fill a 6x4 matrix, but not the shape [5, 4] the caller claims
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Float8Tensor(new byte[24], new float[5], TILES, DType.F32, 5, 4));
        assertTrue(e.getMessage().contains("[5, 4]") && e.getMessage().contains("24"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Float8Tensor(new byte[4], new float[1], TILES, DType.F32, 4));
        assertTrue(e.getMessage().contains("[4]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new Float8Tensor(new byte[0], new float[0], TILES, DType.F32, 0, 4));
        assertTrue(e.getMessage().contains("[0, 4]"), e.getMessage());
    }

    @Test
    void scaleCountMustMatchTheGranularity() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Float8Tensor(new byte[3 * 300], new float[3], TILES, DType.F32, 3, 300));
        assertTrue(e.getMessage().contains("[3, 300]") && e.getMessage().contains("needs 9"), e.getMessage());
    }

    @Test
    void scalesMustBePositiveFiniteAndPowersOfTwoWhereRequired() {
        QuantSpec tensorwise = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1);
        for (float bad : new float[] {0f, -1f, Float.NaN, Float.POSITIVE_INFINITY}) {
            assertThrows(IllegalArgumentException.class,
                    () -> new Float8Tensor(new byte[4], new float[] {bad}, tensorwise, DType.F32, 2, 2), "scale " + bad);
        }
        QuantSpec mx = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.MX_1X32, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Float8Tensor(new byte[32], new float[] {3f}, mx, DType.F32, 1, 32));
        assertTrue(e.getMessage().contains("power of two"), e.getMessage());
        new Float8Tensor(new byte[32], new float[] {0.25f}, mx, DType.F32, 1, 32);
    }

    @Test
    void scalesBelowTheSmallestThatKeepsEveryCodeFiniteAreRefused() {
        QuantSpec tensorwise = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1);
        // 448 / 1e-37 = 4.5e39 and 448 / 1e-39 overflow float32: the largest code would dequantize to Inf
        for (float bad : new float[] {1e-39f, Float.MIN_VALUE, Float.MIN_NORMAL, 1e-37f, -0f, -1e-39f,
            Float.NEGATIVE_INFINITY}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new Float8Tensor(new byte[4], new float[] {bad}, tensorwise, DType.F32, 2, 2), "scale " + bad);
            assertTrue(e.getMessage().contains("scale 0 of [2, 2] is " + bad), e.getMessage());
        }
        // the smallest accepted scale still dequantizes the largest code (448) to a finite float
        float smallest = 448f / Float.MAX_VALUE;
        Float8Tensor t = new Float8Tensor(new byte[] {0x7E, 0, 0, 0}, new float[] {smallest}, tensorwise, DType.F32, 2, 2);
        assertTrue(Float.isFinite(t.dequantized(0, 0)), "448 / " + smallest + " = " + t.dequantized(0, 0));
        QuantSpec mx = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.MX_1X32, 1);
        // 2^-127, the subnormal E8M0 can hold, makes 448 * 2^127 = Inf
        assertThrows(IllegalArgumentException.class,
                () -> new Float8Tensor(new byte[32], new float[] {0x1p-127f}, mx, DType.F32, 1, 32));
    }

    @Test
    void scalesHandsOutACopyAndTheConstructorKeepsOne() {
        float[] given = {2f, 4f};
        Float8Tensor t = new Float8Tensor(new byte[] {0x38, 0x38, 0x38, 0x38}, given, QuantSpec.of(Fp8Format.E4M3FN,
                ScalingGranularity.ROWWISE, 1), DType.F32, 2, 2);
        given[0] = 0f; // the caller's array, changed after construction
        t.scales()[1] = Float.NaN; // a copy, changed by a reader
        assertArrayEquals(new float[] {2f, 4f}, t.scales());
        assertEquals(0.5f, t.dequantized(0, 0), "decode(0x38) = 1, over scale 2");
        assertEquals(0.25f, t.dequantized(1, 1), "decode(0x38) = 1, over scale 4");
    }

    @Test
    void elementsOutsideTheMatrixAreRefused() {
        Float8Tensor t = new Float8Tensor(new byte[6], new float[] {1f, 1f}, TILES, DType.F32, 2, 3);
        assertThrows(IndexOutOfBoundsException.class, () -> t.dequantized(0, 3));
        assertThrows(IndexOutOfBoundsException.class, () -> t.scale(2, 0));
    }
}
