package dev.float8j.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Fp8Format;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Every code of both formats, widened by table, against the BF16 bits of its decoded float. */
class Bf16WideningTest {

    /** Every finite code of format, in an order that mixes magnitudes and signs. */
    private static byte[] finiteCodes(Fp8Format format, int count) {
        byte[] codes = new byte[count];
        int n = 0;
        for (int i = 0; n < count; i++) {
            byte code = (byte) (i * 7 + i / 256);
            if (Float.isFinite(format.decode(code))) {
                codes[n++] = code;
            }
        }
        return codes;
    }

    @Test
    void foldedScalesDivideEveryValueExactly() {
        Assumptions.assumeTrue(Bf16Widening.available(), "skipped: the JVM's preferred vectors are narrower than 512 bits");
        for (Fp8Format format : Fp8Format.values()) {
            Bf16Widening widening = new Bf16Widening(format);
            int blockCols = 32;
            byte[] codes = finiteCodes(format, 8 * blockCols + 11);  // a partial last block: the scalar tail
            float[] scales = new float[9];
            for (int b = 0; b < scales.length; b++) {
                scales[b] = Math.scalb(1f, b * 3 - 12);  // 2^-12 .. 2^12
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment dst = arena.allocate(2L * codes.length);
                assertTrue(widening.widenFolded(codes, 0, codes.length, dst, scales, 0, blockCols), format.toString());
                for (int i = 0; i < codes.length; i++) {
                    float expected = format.decode(codes[i]) / scales[i / blockCols];
                    assertEquals(Float.floatToRawIntBits(expected), dst.getAtIndex(ValueLayout.JAVA_SHORT, i) << 16,
                            format + " code 0x" + Integer.toHexString(codes[i] & 0xFF) + " / " + scales[i / blockCols]);
                }
            }
        }
    }

    @Test
    void foldingRefusesWhatIsNoExactNormalBf16() {
        Assumptions.assumeTrue(Bf16Widening.available(), "skipped: the JVM's preferred vectors are narrower than 512 bits");
        Bf16Widening widening = new Bf16Widening(Fp8Format.E4M3FN);
        byte[] codes = finiteCodes(Fp8Format.E4M3FN, 64);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment dst = arena.allocate(2L * 64);
            // 2^120: the smallest values (2^-9) would need an exponent below BF16's normal range
            assertFalse(widening.widenFolded(codes, 0, 64, dst, new float[] {1f, Math.scalb(1f, 120)}, 0, 32));
            // 2^-127 is subnormal as a float, and 3 is no power of two
            assertFalse(widening.widenFolded(codes, 0, 64, dst, new float[] {Math.scalb(1f, -127), 1f}, 0, 32));
            assertFalse(widening.widenFolded(codes, 0, 64, dst, new float[] {1f, 3f}, 0, 32));
            byte[] withNan = codes.clone();
            withNan[40] = 0x7F;  // E4M3FN's NaN
            assertFalse(widening.widenFolded(withNan, 0, 64, dst, new float[] {1f, 1f}, 0, 32));
            // the same in the scalar tail
            assertFalse(widening.widenFolded(withNan, 32, 9, dst, new float[] {1f}, 0, 32));
            assertTrue(widening.widenFolded(codes, 0, 64, dst, new float[] {1f, 1f}, 0, 32));
        }
    }

    @Test
    void everyCodeWidensToTheBf16BitsOfItsValue() {
        Assumptions.assumeTrue(Bf16Widening.available(), "skipped: the JVM's preferred vectors are narrower than 512 bits");
        for (Fp8Format format : Fp8Format.values()) {
            Bf16Widening widening = new Bf16Widening(format);
            // all 256 codes, repeated with an offset, so that each passes through vector lanes and the scalar tail
            byte[] codes = new byte[3 * 256 + 37];
            for (int i = 0; i < codes.length; i++) {
                codes[i] = (byte) (i * 7 + i / 256);
            }
            for (int off : new int[] {0, 5}) {
                int count = codes.length - off;
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment dst = arena.allocate(2L * codes.length);
                    widening.widen(codes, off, count, dst);
                    for (int i = off; i < codes.length; i++) {
                        float value = format.decode(codes[i]);
                        short bits = dst.getAtIndex(ValueLayout.JAVA_SHORT, i);
                        float widened = Float.intBitsToFloat(bits << 16);
                        String what = format + " code 0x" + Integer.toHexString(codes[i] & 0xFF) + " at " + i;
                        if (Float.isNaN(value)) {
                            assertTrue(Float.isNaN(widened), what);
                        } else {
                            assertEquals(Float.floatToRawIntBits(value), bits << 16, what);
                        }
                    }
                    if (off > 0) {
                        assertEquals(0, dst.getAtIndex(ValueLayout.JAVA_SHORT, off - 1), "nothing before off is written");
                    }
                }
            }
        }
    }
}
