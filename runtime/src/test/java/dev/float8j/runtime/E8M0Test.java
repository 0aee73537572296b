package dev.float8j.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class E8M0Test {

    @Test
    void everyCodeIsTwoToTheCodeMinus127AndFFIsNan() {
        for (int code = 0; code < 255; code++) {
            double expected = Math.pow(2, code - 127);
            assertEquals(expected, E8M0.decode((byte) code), 0.0, "code " + code);
            assertEquals(code - 127, E8M0.exponent((byte) code));
            assertEquals(code, E8M0.fromExponent(code - 127) & 0xFF);
            assertEquals(code, E8M0.encode((float) expected) & 0xFF, "encode(2^" + (code - 127) + ")");
        }
        assertTrue(Float.isNaN(E8M0.decode((byte) 0xFF)));
        assertEquals((byte) 0xFF, E8M0.NAN);
        assertEquals((byte) 0xFF, E8M0.encode(Float.NaN));
        assertThrows(IllegalArgumentException.class, () -> E8M0.exponent((byte) 0xFF));
    }

    @Test
    void rangeIsTwoToTheMinus127To127() {
        assertEquals(0x7F, E8M0.encode(1f));
        assertEquals(0x00, E8M0.encode(0x1p-127f), "2^-127 is a float32 subnormal and still exact");
        assertEquals(0xFE, E8M0.encode(0x1p127f) & 0xFF);
        assertThrows(IllegalArgumentException.class, () -> E8M0.fromExponent(128));
        assertThrows(IllegalArgumentException.class, () -> E8M0.fromExponent(-128));
        assertThrows(IllegalArgumentException.class, () -> E8M0.encode(0x1p-128f));
        assertThrows(IllegalArgumentException.class, () -> E8M0.encode(0x1p-149f));
    }

    @Test
    void rejectsWhatIsNotAPositivePowerOfTwo() {
        for (float v : new float[] {0f, -0f, 3f, 0.75f, -2f, -0.5f, Math.nextUp(1f), Math.nextDown(1f), 0x3p-130f,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MAX_VALUE}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> E8M0.encode(v), "" + v);
            assertTrue(e.getMessage().contains(Float.toString(v)), e.getMessage());
        }
    }
}
