package dev.float8j.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Fp8Format;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Every code of both formats, widened by table, against the BF16 bits of its decoded float. */
class Bf16WideningTest {

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
