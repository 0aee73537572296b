package dev.float8j.plan;

/**
 * The two OCP FP8 formats, with float32 conversions that round to nearest even.
 *
 * <p>{@link #encode} matches PyTorch's float32 to float8 conversion for every E5M2 input and, for E4M3FN,
 * for every input up to 464 in magnitude, NaN and signed zeros included. Past that it follows the rule
 * float8j's quantizers rely on: E4M3FN (which has no infinity) saturates to ±448 where PyTorch's scalar
 * conversion gives NaN; E5M2 (IEEE-like) overflows to ±Inf. {@link #encodeSaturating} clamps both formats
 * to ±max. See docs/formats.md.
 */
public enum Fp8Format {
    /** 4 exponent bits, bias 7, 3 mantissa bits; no infinities; S.1111.111 is NaN; max 448. */
    E4M3FN(4, 3, 7, 0x7E, 0x7F),
    /** 5 exponent bits, bias 15, 2 mantissa bits; IEEE-like infinities and NaNs; max 57344. */
    E5M2(5, 2, 15, 0x7B, 0x7C);

    private final int mantissaBits;
    private final int bias;
    /** Largest finite magnitude code. */
    private final int maxCode;
    /** First magnitude code past the finite range: NaN for E4M3FN, +Inf for E5M2. */
    private final int overflowCode;
    private final float[] decodeTable = new float[256];
    private final float max;
    private final float minSubnormal;

    Fp8Format(int exponentBits, int mantissaBits, int bias, int maxCode, int overflowCode) {
        this.mantissaBits = mantissaBits;
        this.bias = bias;
        this.maxCode = maxCode;
        this.overflowCode = overflowCode;
        for (int code = 0; code < 256; code++) {
            decodeTable[code] = decodeArithmetic(code, exponentBits);
        }
        this.max = decodeTable[maxCode];
        this.minSubnormal = Math.scalb(1f, 1 - bias - mantissaBits);
    }

    private float decodeArithmetic(int code, int exponentBits) {
        boolean negative = (code & 0x80) != 0;
        int exponentField = (code & 0x7F) >>> mantissaBits;
        int mantissa = code & ((1 << mantissaBits) - 1);
        int allOnes = (1 << exponentBits) - 1;
        float magnitude;
        if (this.mantissaBits == 3 && (code & 0x7F) == 0x7F) {
            magnitude = Float.NaN;
        } else if (this.mantissaBits == 2 && exponentField == allOnes) {
            magnitude = mantissa == 0 ? Float.POSITIVE_INFINITY : Float.NaN;
        } else if (exponentField == 0) {
            magnitude = Math.scalb((float) mantissa, 1 - bias - mantissaBits);
        } else {
            magnitude = Math.scalb(1f + mantissa / (float) (1 << mantissaBits), exponentField - bias);
        }
        return negative ? -magnitude : magnitude;
    }

    /** Rounds to nearest even; overflow saturates to ±448 for E4M3FN and gives ±Inf for E5M2. NaN gives a NaN code. */
    public byte encode(float value) {
        return encode(value, this == E4M3FN);
    }

    /** Rounds to nearest even; overflow and ±Inf give ±max. NaN gives a NaN code. */
    public byte encodeSaturating(float value) {
        return encode(value, true);
    }

    private byte encode(float value, boolean saturate) {
        int bits = Float.floatToRawIntBits(value);
        int sign = (bits >>> 24) & 0x80;
        if (Float.isNaN(value)) {
            return (byte) (sign | 0x7F);
        }
        int magnitudeBits = bits & 0x7FFF_FFFF;
        float magnitude = Float.intBitsToFloat(magnitudeBits);
        int code;
        if (magnitude < Math.scalb(1f, 1 - bias)) {
            // Subnormal range: the value in units of the smallest subnormal, rounded half to even.
            code = (int) Math.rint(Math.scalb(magnitude, bias - 1 + mantissaBits));
        } else if (Float.isInfinite(magnitude)) {
            code = overflowCode;
        } else {
            // Round the float32 mantissa to mantissaBits bits, half to even; a carry moves into the exponent.
            int shift = 23 - mantissaBits;
            int lsb = (magnitudeBits >>> shift) & 1;
            int rounded = (magnitudeBits + (1 << (shift - 1)) - 1 + lsb) >>> shift;
            code = rounded - ((127 - bias) << mantissaBits);
        }
        if (code > maxCode) {
            code = saturate ? maxCode : overflowCode;
        }
        return (byte) (sign | code);
    }

    /** The exact value of a code. */
    public float decode(byte code) {
        return decodeTable[code & 0xFF];
    }

    /** A copy of the 256-entry decode table, indexed by the unsigned code. */
    public float[] decodeTable() {
        return decodeTable.clone();
    }

    /** Largest finite value: 448 for E4M3FN, 57344 for E5M2. */
    public float max() {
        return max;
    }

    /** Smallest positive (subnormal) value: 2^-9 for E4M3FN, 2^-16 for E5M2. */
    public float minSubnormal() {
        return minSubnormal;
    }

    /** Smallest positive normal value: 2^-6 for E4M3FN, 2^-14 for E5M2. */
    public float minNormal() {
        return Math.scalb(1f, 1 - bias);
    }

    /** Explicit mantissa bits of the format. */
    public int mantissaBits() {
        return mantissaBits;
    }

    /** Exponent of the largest power of two not above {@link #max()}: 8 for E4M3FN, 15 for E5M2 (OCP's emax). */
    public int maxExponent() {
        return Math.getExponent(max);
    }
}
