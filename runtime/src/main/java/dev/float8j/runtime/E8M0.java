package dev.float8j.runtime;

/**
 * The OCP Microscaling scale type: an unsigned 8-bit biased exponent, value 2^(code - 127), 0xFF is NaN.
 * It holds powers of two from 2^-127 to 2^127, and no zero.
 */
public final class E8M0 {
    /** The exponent bias: code c stands for 2^(c - 127). */
    public static final int BIAS = 127;
    /** The NaN code. */
    public static final byte NAN = (byte) 0xFF;

    private E8M0() {
    }

    /** The code of 2^exponent; the exponent must be in [-127, 127]. */
    public static byte fromExponent(int exponent) {
        if (exponent < -BIAS || exponent > BIAS) {
            throw new IllegalArgumentException("E8M0 holds 2^-127 .. 2^127, not 2^" + exponent);
        }
        return (byte) (exponent + BIAS);
    }

    /** The code of an exact power of two in range; NaN gives {@link #NAN}; anything else is an error. */
    public static byte encode(float powerOfTwo) {
        if (Float.isNaN(powerOfTwo)) {
            return NAN;
        }
        int exponent = exponentOf(powerOfTwo);
        if (exponent == Integer.MIN_VALUE) {
            throw new IllegalArgumentException("E8M0 holds only powers of two in 2^-127 .. 2^127, not " + powerOfTwo);
        }
        return fromExponent(exponent);
    }

    /** 2^(code - 127) as a float (2^-127 is a float32 subnormal, still exact); 0xFF gives NaN. */
    public static float decode(byte code) {
        int c = code & 0xFF;
        return c == 0xFF ? Float.NaN : Math.scalb(1f, c - BIAS);
    }

    /** The exponent of a code; 0xFF has none. */
    public static int exponent(byte code) {
        int c = code & 0xFF;
        if (c == 0xFF) {
            throw new IllegalArgumentException("E8M0 NaN has no exponent");
        }
        return c - BIAS;
    }

    /** log2 of a positive power of two, or Integer.MIN_VALUE if the value is not one. */
    private static int exponentOf(float value) {
        if (!(value > 0f) || Float.isInfinite(value)) {
            return Integer.MIN_VALUE;
        }
        int exponent = Math.getExponent(value);
        if (exponent == Float.MIN_EXPONENT - 1) { // subnormal: 2^-127 is the only one E8M0 holds
            return value == Math.scalb(1f, -127) ? -127 : Integer.MIN_VALUE;
        }
        return Math.scalb(1f, exponent) == value ? exponent : Integer.MIN_VALUE;
    }
}
