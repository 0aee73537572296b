package dev.float8j.runtime.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Fp8Format;
import org.junit.jupiter.api.Test;

class ScalesTest {

    @Test
    void anAmaxThatIsNotAFiniteMagnitudeIsRefused() {
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -1f, -Float.MIN_VALUE}) {
            for (boolean powerOfTwo : new boolean[] {false, true}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> Scales.scale(bad, Fp8Format.E4M3FN, powerOfTwo), "amax " + bad);
                assertTrue(e.getMessage().contains("amax " + bad), e.getMessage());
            }
        }
    }

    @Test
    void roundingRefusesWhatIsNotAPositiveFiniteScale() {
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, 0f, -0f, -2f}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Scales.roundDownToPowerOfTwo(bad), "scale " + bad);
            assertTrue(e.getMessage().contains("scale " + bad), e.getMessage());
        }
        assertEquals(0.25f, Scales.roundDownToPowerOfTwo(0.3f));
    }

    @Test
    void theLargestCodeDequantizesToAFiniteFloatEvenForAmaxFloatMax() {
        for (Fp8Format f : Fp8Format.values()) {
            for (boolean powerOfTwo : new boolean[] {false, true}) {
                float scale = Scales.scale(Float.MAX_VALUE, f, powerOfTwo);
                assertTrue(Float.isFinite(f.max() / scale), f + " pow2=" + powerOfTwo + ": " + f.max() + " / " + scale);
                assertTrue(scale >= Scales.minScale(f), f + " pow2=" + powerOfTwo);
            }
        }
        // E4M3FN: 448 / Float.MAX_VALUE = 1.75 * 2^-120, so the smallest power of two above it is 2^-119
        assertEquals(0x1p-119f, Scales.scale(Float.MAX_VALUE, Fp8Format.E4M3FN, true));
        // E5M2: 57344 / Float.MAX_VALUE = 1.75 * 2^-113
        assertEquals(0x1p-112f, Scales.scale(Float.MAX_VALUE, Fp8Format.E5M2, true));
        // where fmax / amax is a power of two at or above that, nothing changes
        assertEquals(0x1p-100f, Scales.scale(448f * 0x1p100f, Fp8Format.E4M3FN, true));
    }

    @Test
    void minScaleIsTheSmallestScaleWhoseLargestCodeStaysFinite() {
        for (Fp8Format f : Fp8Format.values()) {
            float min = Scales.minScale(f);
            assertTrue(Float.isFinite(f.max() / min), f + ": " + f.max() + " / " + min);
            assertEquals(Float.POSITIVE_INFINITY, f.max() / Math.nextDown(min), f + ": one ulp below");
        }
    }
}
