package dev.float8j.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import org.junit.jupiter.api.Test;

class BFloat16Test {

    /** Round to nearest even by comparing the distances to the two bfloat16 neighbours, in double. */
    private static int referenceBits(float x) {
        int bits = Float.floatToRawIntBits(x);
        int sign = bits & 0x8000_0000;
        int magnitude = bits & 0x7FFF_FFFF;
        int below = magnitude & 0xFFFF_0000; // truncation toward zero
        int above = below + 0x1_0000;
        double value = Math.abs((double) x);
        double low = Float.intBitsToFloat(below);
        // the bfloat16 after the largest finite one stands for 2^128, so overflow starts at the midpoint
        double high = above == 0x7F80_0000 ? 0x1p128 : Float.intBitsToFloat(above);
        int chosen;
        if (value - low != high - value) {
            chosen = value - low < high - value ? below : above;
        } else {
            chosen = (below & 0x1_0000) == 0 ? below : above;
        }
        return (sign | chosen) >>> 16;
    }

    @Test
    void roundsToNearestEvenOverAStrideOfAllFiniteFloats() {
        for (long b = 0; b <= 0xFFFF_FFFFL; b += 997) {
            float x = Float.intBitsToFloat((int) b);
            if (Float.isNaN(x) || Float.isInfinite(x)) {
                continue;
            }
            int expected = referenceBits(x);
            int actual = BFloat16.fromFloat(x) & 0xFFFF;
            if (expected != actual) {
                fail("bf16(" + x + ") gave 0x" + Integer.toHexString(actual) + ", expected 0x" + Integer.toHexString(expected));
            }
        }
    }

    @Test
    void tiesGoToEven() {
        assertEquals(0x3F80, BFloat16.fromFloat(Float.intBitsToFloat(0x3F80_8000)) & 0xFFFF, "1 + 2^-8 ties down to 1");
        assertEquals(0x3F82, BFloat16.fromFloat(Float.intBitsToFloat(0x3F81_8000)) & 0xFFFF, "ties up to the even neighbour");
        assertEquals(0xBF80, BFloat16.fromFloat(Float.intBitsToFloat(0xBF80_8000)) & 0xFFFF);
        assertEquals(0xBF82, BFloat16.fromFloat(Float.intBitsToFloat(0xBF81_8000)) & 0xFFFF);
        assertEquals(0x3F81, BFloat16.fromFloat(Float.intBitsToFloat(0x3F80_8001)) & 0xFFFF, "past the tie rounds up");
        assertEquals(0x3F80, BFloat16.fromFloat(Float.intBitsToFloat(0x3F80_7FFF)) & 0xFFFF, "before it rounds down");
        assertEquals(0x0000, BFloat16.fromFloat(Float.intBitsToFloat(0x0000_8000)) & 0xFFFF, "subnormal tie to even zero");
        assertEquals(0x0002, BFloat16.fromFloat(Float.intBitsToFloat(0x0001_8000)) & 0xFFFF, "subnormal tie up to even");
    }

    @Test
    void specialValues() {
        assertEquals(0x0000, BFloat16.fromFloat(0f) & 0xFFFF);
        assertEquals(0x8000, BFloat16.fromFloat(-0f) & 0xFFFF);
        assertEquals(0x7F80, BFloat16.fromFloat(Float.POSITIVE_INFINITY) & 0xFFFF);
        assertEquals(0xFF80, BFloat16.fromFloat(Float.NEGATIVE_INFINITY) & 0xFFFF);
        assertEquals(0x7F80, BFloat16.fromFloat(Float.MAX_VALUE) & 0xFFFF, "rounds past the largest bfloat16");
        assertEquals(0x7F7F, BFloat16.fromFloat(Float.intBitsToFloat(0x7F7F_7FFF)) & 0xFFFF);
        for (int nanBits : new int[] {0x7FC0_0000, 0x7F80_0001, 0xFF80_0001, 0x7FFF_FFFF, 0xFFC0_0000}) {
            short h = BFloat16.fromFloat(Float.intBitsToFloat(nanBits));
            assertTrue(Float.isNaN(BFloat16.toFloat(h)), "NaN 0x" + Integer.toHexString(nanBits) + " stays NaN");
            assertEquals(nanBits >>> 31, (h & 0xFFFF) >>> 15, "and keeps its sign");
        }
    }

    @Test
    void toFloatIsTheUpperHalf() {
        for (int h = 0; h < 0x10000; h++) {
            float f = BFloat16.toFloat((short) h);
            assertEquals(h << 16, Float.floatToRawIntBits(f));
            if (!Float.isNaN(f)) {
                assertEquals(h, BFloat16.fromFloat(f) & 0xFFFF, "bfloat16 values round-trip");
                assertEquals(f, BFloat16.round(f));
            }
        }
    }
}
