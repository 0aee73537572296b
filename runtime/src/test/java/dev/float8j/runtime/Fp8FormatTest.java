package dev.float8j.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Fp8Format;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Fp8Format against values derived in the test from the sign, exponent and mantissa fields of each code
 * (double arithmetic), and against the rounding rules spelled out midpoint by midpoint.
 */
class Fp8FormatTest {

    /** The field layout of a format, written out here so the test does not lean on the code under test. */
    record Layout(int exponentBits, int mantissaBits, int bias, boolean finiteOnly) {
        static Layout of(Fp8Format f) {
            return f == Fp8Format.E4M3FN ? new Layout(4, 3, 7, true) : new Layout(5, 2, 15, false);
        }

        /** The value a code stands for, from its fields. */
        double value(int code) {
            int sign = (code >> 7) & 1;
            int exponent = (code >> mantissaBits) & ((1 << exponentBits) - 1);
            int mantissa = code & ((1 << mantissaBits) - 1);
            int allOnes = (1 << exponentBits) - 1;
            double magnitude;
            if (finiteOnly && exponent == allOnes && mantissa == (1 << mantissaBits) - 1) {
                magnitude = Double.NaN;
            } else if (!finiteOnly && exponent == allOnes) {
                magnitude = mantissa == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
            } else if (exponent == 0) {
                magnitude = mantissa / (double) (1 << mantissaBits) * Math.pow(2, 1 - bias);
            } else {
                magnitude = (1 + mantissa / (double) (1 << mantissaBits)) * Math.pow(2, exponent - bias);
            }
            return sign == 1 ? -magnitude : magnitude;
        }
    }

    private static byte b(int code) {
        return (byte) code;
    }

    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    void everyCodeDecodesToTheValueOfItsFields(Fp8Format f) {
        Layout layout = Layout.of(f);
        for (int code = 0; code < 256; code++) {
            double expected = layout.value(code);
            float actual = f.decode(b(code));
            if (Double.isNaN(expected)) {
                assertTrue(Float.isNaN(actual), f + " code " + code + " must be NaN, got " + actual);
            } else {
                assertEquals(expected, actual, 0.0, f + " code 0x" + Integer.toHexString(code));
                // distinguishes +0 from -0
                assertEquals(Double.doubleToRawLongBits(expected) >>> 63, (long) (Float.floatToRawIntBits(actual) >>> 31),
                        f + " sign of code 0x" + Integer.toHexString(code));
            }
        }
    }

    @Test
    void knownFactsOfE4M3FN() {
        Fp8Format f = Fp8Format.E4M3FN;
        assertEquals(448f, f.max());
        assertEquals(448f, f.decode(b(0x7E)));
        assertEquals(-448f, f.decode(b(0xFE)));
        assertEquals(0x1p-6f, f.minNormal());
        assertEquals(0x1p-6f, f.decode(b(0x08)));
        assertEquals(0x1p-9f, f.minSubnormal());
        assertEquals(0x1p-9f, f.decode(b(0x01)));
        assertEquals(0x7p-9f, f.decode(b(0x07)));
        assertEquals(1f, f.decode(b(0x38)));
        assertTrue(Float.isNaN(f.decode(b(0x7F))));
        assertTrue(Float.isNaN(f.decode(b(0xFF))));
        assertEquals(8, f.maxExponent());
        int nanCodes = 0;
        for (int code = 0; code < 256; code++) {
            float v = f.decode(b(code));
            assertTrue(!Float.isInfinite(v), "E4M3FN has no infinities, code " + code);
            nanCodes += Float.isNaN(v) ? 1 : 0;
        }
        assertEquals(2, nanCodes);
    }

    @Test
    void knownFactsOfE5M2() {
        Fp8Format f = Fp8Format.E5M2;
        assertEquals(57344f, f.max());
        assertEquals(57344f, f.decode(b(0x7B)));
        assertEquals(0x1p-14f, f.minNormal());
        assertEquals(0x1p-14f, f.decode(b(0x04)));
        assertEquals(0x1p-16f, f.minSubnormal());
        assertEquals(0x1p-16f, f.decode(b(0x01)));
        assertEquals(1f, f.decode(b(0x3C)));
        assertEquals(Float.POSITIVE_INFINITY, f.decode(b(0x7C)));
        assertEquals(Float.NEGATIVE_INFINITY, f.decode(b(0xFC)));
        for (int code : new int[] {0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF}) {
            assertTrue(Float.isNaN(f.decode(b(code))), "code " + code);
        }
        assertEquals(15, f.maxExponent());
    }

    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    void everyCodeRoundTrips(Fp8Format f) {
        for (int code = 0; code < 256; code++) {
            float v = f.decode(b(code));
            if (Float.isNaN(v)) {
                for (byte back : new byte[] {f.encode(v), f.encodeSaturating(v)}) {
                    assertTrue(Float.isNaN(f.decode(back)), f + " NaN code " + code + " must encode to a NaN code");
                    assertEquals(code & 0x80, back & 0x80, "NaN keeps its sign");
                }
            } else if (Float.isInfinite(v)) {
                assertEquals(code, f.encode(v) & 0xFF, "E5M2 infinities round-trip through encode");
                assertEquals(Math.copySign(f.max(), v), f.decode(f.encodeSaturating(v)), "and saturate to max");
            } else {
                assertEquals(code, f.encode(v) & 0xFF, f + " encode, code 0x" + Integer.toHexString(code));
                assertEquals(code, f.encodeSaturating(v) & 0xFF, f + " encodeSaturating, code 0x" + Integer.toHexString(code));
            }
        }
    }

    /** Non-negative finite codes in increasing order of value. */
    private static List<Integer> finiteCodesAscending(Fp8Format f) {
        Layout layout = Layout.of(f);
        List<Integer> codes = new ArrayList<>();
        for (int code = 0; code < 0x80; code++) {
            if (Double.isFinite(layout.value(code))) {
                codes.add(code);
            }
        }
        codes.sort((a, c) -> Double.compare(layout.value(a), layout.value(c)));
        return codes;
    }

    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    void tiesGoToTheEvenCodeAndNeighboursOfTiesToTheNearer(Fp8Format f) {
        Layout layout = Layout.of(f);
        List<Integer> codes = finiteCodesAscending(f);
        int checked = 0;
        for (int i = 0; i + 1 < codes.size(); i++) {
            int lo = codes.get(i);
            int hi = codes.get(i + 1);
            assertEquals(1, hi - lo, "adjacent values have adjacent codes");
            double midpointExact = (layout.value(lo) + layout.value(hi)) / 2;
            float midpoint = (float) midpointExact;
            assertEquals(midpointExact, midpoint, 0.0, "the midpoint is a float32");
            int even = (lo & 1) == 0 ? lo : hi;
            for (int sign : new int[] {0, 0x80}) {
                float m = sign == 0 ? midpoint : -midpoint;
                float towardHi = sign == 0 ? Math.nextUp(midpoint) : -Math.nextUp(midpoint);
                float towardLo = sign == 0 ? Math.nextDown(midpoint) : -Math.nextDown(midpoint);
                for (boolean saturating : new boolean[] {false, true}) {
                    String what = f + (saturating ? " encodeSaturating(" : " encode(");
                    assertEquals(sign | even, enc(f, m, saturating), what + m + ") is a tie");
                    assertEquals(sign | hi, enc(f, towardHi, saturating), what + towardHi + ")");
                    assertEquals(sign | lo, enc(f, towardLo, saturating), what + towardLo + ")");
                }
                checked++;
            }
        }
        // every pair of adjacent non-negative finite values, both signs
        assertEquals(2 * (codes.size() - 1), checked);
    }

    private static int enc(Fp8Format f, float v, boolean saturating) {
        return (saturating ? f.encodeSaturating(v) : f.encode(v)) & 0xFF;
    }

    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    void belowTheSmallestSubnormal(Fp8Format f) {
        float tiny = f.minSubnormal();
        assertEquals(0x00, enc(f, tiny / 2, false), "half the smallest subnormal ties to +0");
        assertEquals(0x80, enc(f, -tiny / 2, false), "and to -0 when negative");
        assertEquals(0x01, enc(f, Math.nextUp(tiny / 2), false));
        assertEquals(0x81, enc(f, -Math.nextUp(tiny / 2), false));
        assertEquals(0x00, enc(f, Float.MIN_VALUE, false));
        assertEquals(0x80, enc(f, -Float.MIN_VALUE, false));
        assertEquals(0x00, enc(f, Float.MIN_NORMAL, false));
        assertEquals(0x00, enc(f, 0f, false));
        assertEquals(0x80, enc(f, -0f, false));
        assertEquals(0x00, enc(f, 0f, true));
        assertEquals(0x80, enc(f, -0f, true));
    }

    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    void nanKeepsItsSignAndGivesANanCode(Fp8Format f) {
        float[] nans = {Float.NaN, Float.intBitsToFloat(0x7F800001), Float.intBitsToFloat(0xFFC00000),
                Float.intBitsToFloat(0xFFFFFFFF)};
        for (float nan : nans) {
            int sign = (Float.floatToRawIntBits(nan) >>> 24) & 0x80;
            assertEquals(sign | 0x7F, enc(f, nan, false), "NaN bits " + Integer.toHexString(Float.floatToRawIntBits(nan)));
            assertEquals(sign | 0x7F, enc(f, nan, true));
        }
    }

    @Test
    void e4m3fnSaturatesOnOverflowAndInfinity() {
        Fp8Format f = Fp8Format.E4M3FN;
        for (float v : new float[] {448f, 464f, Math.nextUp(464f), 479.9f, 480f, 1e6f, Float.MAX_VALUE,
                Float.POSITIVE_INFINITY}) {
            assertEquals(0x7E, enc(f, v, false), "encode(" + v + ")");
            assertEquals(0xFE, enc(f, -v, false), "encode(" + -v + ")");
            assertEquals(0x7E, enc(f, v, true));
            assertEquals(0xFE, enc(f, -v, true));
        }
    }

    @Test
    void e5m2OverflowsToInfinityPastTheTieAt61440() {
        Fp8Format f = Fp8Format.E5M2;
        assertEquals(0x7B, enc(f, 57344f, false));
        assertEquals(0x7B, enc(f, Math.nextDown(61440f), false), "below the tie: max");
        assertEquals(0x7C, enc(f, 61440f, false), "the tie between 57344 and 65536 goes to the even code, Inf");
        assertEquals(0xFC, enc(f, -61440f, false));
        assertEquals(0xFB, enc(f, -Math.nextDown(61440f), false));
        for (float v : new float[] {65536f, 1e10f, Float.MAX_VALUE, Float.POSITIVE_INFINITY}) {
            assertEquals(0x7C, enc(f, v, false), "encode(" + v + ")");
            assertEquals(0xFC, enc(f, -v, false));
        }
        for (float v : new float[] {61440f, 65536f, Float.MAX_VALUE, Float.POSITIVE_INFINITY}) {
            assertEquals(0x7B, enc(f, v, true), "encodeSaturating(" + v + ")");
            assertEquals(0xFB, enc(f, -v, true));
        }
    }
}
