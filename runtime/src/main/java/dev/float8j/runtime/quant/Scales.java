package dev.float8j.runtime.quant;

import dev.float8j.plan.Fp8Format;

/**
 * The one place that turns an absolute maximum into a scale, so that every backend agrees bit for bit.
 *
 * <p>scale = fmax / max(amax, EPS) in float32; with power-of-two scales it is rounded down to
 * 2^floor(log2(scale)), so that amax * scale never exceeds fmax and rescaling adds no rounding error.
 * Quantized values are q = saturate(round(x * scale)); dequantized, x ≈ q / scale.
 *
 * <p>No scale is ever below {@link #minScale}: below it the largest code, fmax / scale, would dequantize to
 * Inf. Only a power-of-two scale for an amax above about 0.875 * Float.MAX_VALUE reaches that floor; there the
 * block's largest values saturate to fmax / scale (at least 0.875 * Float.MAX_VALUE) instead, as every value past
 * fmax does.
 *
 * <p>MX scales are such powers of two too. OCP's rule, X = 2^(floor(log2(amax)) - emax), can push the
 * block's largest values past fmax, where they clip; float8j rounds the exponent the other way (as
 * Transformer Engine and cuBLAS do), so nothing in a block saturates.
 */
public final class Scales {
    /** Floor on amax, so an all-zero block gets a finite scale (torchao uses the same). */
    public static final float EPS = 1e-12f;

    private static final float[] MIN_SCALE = new float[Fp8Format.values().length];
    private static final float[] MIN_POWER_OF_TWO_SCALE = new float[Fp8Format.values().length];

    static {
        for (Fp8Format format : Fp8Format.values()) {
            // fmax / Float.MAX_VALUE rounds to a float whose quotient is finite; step down while the next one's is too
            float min = format.max() / Float.MAX_VALUE;
            while (Float.isFinite(format.max() / Math.nextDown(min))) {
                min = Math.nextDown(min);
            }
            MIN_SCALE[format.ordinal()] = min;
            float pow2 = Math.scalb(1f, Math.getExponent(min));
            MIN_POWER_OF_TWO_SCALE[format.ordinal()] = pow2 < min ? 2 * pow2 : pow2;
        }
    }

    private Scales() {
    }

    /**
     * The scale of a block whose largest magnitude is amax.
     *
     * @throws IllegalArgumentException if amax is NaN, infinite or negative: no scale can quantize such a block
     *     (quantizers report the offending element before they get here, see {@link NonFiniteException})
     */
    public static float scale(float amax, Fp8Format format, boolean powerOfTwo) {
        if (!(amax >= 0f && amax <= Float.MAX_VALUE)) {
            throw new IllegalArgumentException("amax " + amax + " has no scale: an absolute maximum is finite and not "
                    + "negative");
        }
        float scale = format.max() / Math.max(amax, EPS);
        if (!powerOfTwo) {
            return scale; // at least fmax / Float.MAX_VALUE, which is minScale(format)
        }
        return Math.max(roundDownToPowerOfTwo(scale), MIN_POWER_OF_TWO_SCALE[format.ordinal()]);
    }

    /**
     * The smallest scale a tensor of this format may have: the largest code, fmax / scale, is still a finite float
     * (about 1.3e-36 for E4M3FN, 1.7e-34 for E5M2).
     */
    public static float minScale(Fp8Format format) {
        return MIN_SCALE[format.ordinal()];
    }

    /** {@link #minScale(Fp8Format)}, or with power-of-two scales the smallest power of two not below it. */
    public static float minScale(Fp8Format format, boolean powerOfTwo) {
        return powerOfTwo ? MIN_POWER_OF_TWO_SCALE[format.ordinal()] : MIN_SCALE[format.ordinal()];
    }

    /**
     * 2^floor(log2(scale)) for a positive finite scale, kept within E8M0's range.
     *
     * @throws IllegalArgumentException if scale is NaN, infinite, zero or negative
     */
    public static float roundDownToPowerOfTwo(float scale) {
        if (!(scale > 0f && scale <= Float.MAX_VALUE)) {
            throw new IllegalArgumentException("scale " + scale + " has no power of two below it: a scale is positive "
                    + "and finite");
        }
        int exponent = Math.getExponent(scale);
        exponent = Math.max(-126, Math.min(127, exponent));
        return Math.scalb(1f, exponent);
    }
}
