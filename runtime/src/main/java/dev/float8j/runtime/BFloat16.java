package dev.float8j.runtime;

/** bfloat16 conversions: the upper 16 bits of a float32, rounded to nearest even. */
public final class BFloat16 {
    private BFloat16() {
    }

    /** The bfloat16 bits nearest to value (ties to even; NaN stays a quiet NaN). */
    public static short fromFloat(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) ((bits >>> 16) | 0x40); // keep it a quiet NaN
        }
        int lsb = (bits >>> 16) & 1;
        return (short) ((bits + 0x7FFF + lsb) >>> 16);
    }

    /** The float whose upper 16 bits are bf16 (exact). */
    public static float toFloat(short bf16) {
        return Float.intBitsToFloat((bf16 & 0xFFFF) << 16);
    }

    /** The float nearest to value that bfloat16 can hold. */
    public static float round(float value) {
        return toFloat(fromFloat(value));
    }
}
