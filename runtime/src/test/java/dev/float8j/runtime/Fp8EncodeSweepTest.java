package dev.float8j.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.float8j.plan.Fp8Format;
import java.util.Arrays;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Fp8Format.encode and encodeSaturating against a brute-force encoder written here: the nearest value of the
 * table of codes, ties to the even code, with one virtual code past max standing for the first value that
 * does not fit (so that values from the midpoint between max and it on count as overflow, as in IEEE).
 */
class Fp8EncodeSweepTest {

    /** The brute-force encoder of one format. */
    static final class NearestValueEncoder {
        private final Fp8Format format;
        /** Non-negative finite values in increasing order, then the virtual overflow value. */
        private final double[] values;
        private final int[] codes;
        private final int maxCode;

        NearestValueEncoder(Fp8Format format) {
            this.format = format;
            Fp8FormatTest.Layout layout = Fp8FormatTest.Layout.of(format);
            double[] v = new double[129];
            int[] c = new int[129];
            int n = 0;
            for (int code = 0; code < 0x80; code++) { // the codes of non-negative values increase with the value
                double value = layout.value(code);
                if (Double.isFinite(value)) {
                    v[n] = value;
                    c[n] = code;
                    n++;
                }
            }
            maxCode = c[n - 1];
            // one step past max at the spacing of max's binade: 480 for E4M3FN, 65536 for E5M2
            v[n] = 2 * v[n - 1] - v[n - 2];
            c[n] = maxCode + 1;
            n++;
            values = Arrays.copyOf(v, n);
            codes = Arrays.copyOf(c, n);
        }

        int encode(float x, boolean saturating) {
            int bits = Float.floatToRawIntBits(x);
            int sign = bits < 0 ? 0x80 : 0;
            if (Float.isNaN(x)) {
                return sign | 0x7F;
            }
            double magnitude = Math.abs((double) x);
            int overflowIndex = values.length - 1;
            int nearest;
            if (magnitude >= values[overflowIndex]) {
                nearest = overflowIndex;
            } else {
                int i = Arrays.binarySearch(values, magnitude);
                if (i >= 0) {
                    nearest = i;
                } else {
                    int above = -i - 1; // values[above - 1] < magnitude < values[above]
                    double downDistance = magnitude - values[above - 1];
                    double upDistance = values[above] - magnitude;
                    if (downDistance != upDistance) {
                        nearest = downDistance < upDistance ? above - 1 : above;
                    } else {
                        nearest = (codes[above] & 1) == 0 ? above : above - 1;
                    }
                }
            }
            int code;
            if (nearest < overflowIndex) {
                code = codes[nearest];
            } else if (saturating || format == Fp8Format.E4M3FN) {
                code = maxCode;
            } else {
                code = 0x7C; // E5M2 +Inf
            }
            return sign | code;
        }
    }

    private static void check(Fp8Format f, NearestValueEncoder reference, float x) {
        int expected = reference.encode(x, false);
        int actual = f.encode(x) & 0xFF;
        int expectedSaturating = reference.encode(x, true);
        int actualSaturating = f.encodeSaturating(x) & 0xFF;
        if (expected != actual || expectedSaturating != actualSaturating) {
            fail(f + " of " + x + " (bits 0x" + Integer.toHexString(Float.floatToRawIntBits(x)) + "): encode gave 0x"
                    + Integer.toHexString(actual) + ", expected 0x" + Integer.toHexString(expected)
                    + "; encodeSaturating gave 0x" + Integer.toHexString(actualSaturating) + ", expected 0x"
                    + Integer.toHexString(expectedSaturating));
        }
    }

    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    void everyFloatWithAStrideAcrossAllBitPatterns(Fp8Format f) {
        NearestValueEncoder reference = new NearestValueEncoder(f);
        // 4099 is odd, so the samples land on every residue of the low mantissa bits
        for (long bits = 0; bits <= 0xFFFF_FFFFL; bits += 4099) {
            check(f, reference, Float.intBitsToFloat((int) bits));
        }
        for (float special : new float[] {0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL,
                Float.MAX_VALUE, -Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN}) {
            check(f, reference, special);
        }
    }

    /** All 2^32 float32 inputs: about four minutes per format on 2 cores, so only with -Dfloat8j.exhaustive=true. */
    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    @EnabledIfSystemProperty(named = "float8j.exhaustive", matches = "true")
    void everyFloat32(Fp8Format f) {
        NearestValueEncoder reference = new NearestValueEncoder(f);
        for (long bits = 0; bits <= 0xFFFF_FFFFL; bits++) {
            check(f, reference, Float.intBitsToFloat((int) bits));
        }
    }

    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    void denseSweepOfTheFormatsRange(Fp8Format f) {
        NearestValueEncoder reference = new NearestValueEncoder(f);
        // from a quarter of the smallest subnormal to twice the overflow threshold, both signs
        int from = Float.floatToRawIntBits(f.minSubnormal() / 4);
        int to = Float.floatToRawIntBits(4 * f.max());
        for (int bits = from; bits <= to; bits += 61) {
            float x = Float.intBitsToFloat(bits);
            check(f, reference, x);
            check(f, reference, -x);
        }
    }

    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    void everyFloatNearEveryValueAndMidpoint(Fp8Format f) {
        NearestValueEncoder reference = new NearestValueEncoder(f);
        double[] values = reference.values;
        for (int i = 0; i < values.length; i++) {
            float[] centres = i + 1 < values.length
                    ? new float[] {(float) values[i], (float) ((values[i] + values[i + 1]) / 2)}
                    : new float[] {(float) values[i]};
            for (float centre : centres) {
                int centreBits = Float.floatToRawIntBits(centre);
                for (int d = -64; d <= 64; d++) {
                    int bits = centreBits + d;
                    if (bits >= 0) {
                        float x = Float.intBitsToFloat(bits);
                        check(f, reference, x);
                        check(f, reference, -x);
                    }
                }
            }
        }
    }
}
