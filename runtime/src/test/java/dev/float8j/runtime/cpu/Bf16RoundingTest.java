package dev.float8j.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.float8j.runtime.BFloat16;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The vector rounding against {@link BFloat16#fromFloat}, value by value. */
class Bf16RoundingTest {

    /** Ties both ways, the largest finite values (which round to infinity), subnormals, zeros, infinities and NaNs. */
    private static final int[] SPECIAL_BITS = {
        0x3F808000, 0x3F818000, 0x3F807FFF, 0x3F808001, 0xBF808000, 0xBF818000, // ties to even, either side
        0x7F7FFFFF, 0xFF7FFFFF, 0x7F7F7FFF, 0x7F7F8000, // the largest finite values
        0x00000001, 0x80000001, 0x00008000, 0x00018000, 0x007FFFFF, // subnormals
        0x00000000, 0x80000000, 0x7F800000, 0xFF800000, // zeros and infinities
        0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FBFFFFF, 0x7F80FFFF, 0xFFFFFFFF, // NaNs, quiet and not
    };

    @Test
    void everyValueRoundsAsTheScalarConversion() {
        SplittableRandom random = new SplittableRandom(21);
        int n = 4099;  // not a multiple of any vector width: the scalar tail runs too
        float[] src = new float[n];
        for (int i = 0; i < n; i++) {
            int bits = i < SPECIAL_BITS.length ? SPECIAL_BITS[i] : random.nextInt();
            if (i % 3 == 0 && i >= SPECIAL_BITS.length) {
                bits = (bits & 0xFFFF0000) | 0x8000;  // an exact tie
            }
            src[i] = Float.intBitsToFloat(bits);
        }
        for (int shift = 0; shift < 3; shift++) {  // the special values in every lane position
            short[] dst = new short[n];
            Bf16Rounding.round(src, shift, n, dst);
            for (int i = shift; i < n; i++) {
                assertEquals(BFloat16.fromFloat(src[i]), dst[i],
                        "bits 0x" + Integer.toHexString(Float.floatToRawIntBits(src[i])) + " at " + i);
            }
        }
    }
}
