package dev.float8j.runtime.quant;

import dev.float8j.runtime.Fp8Format;

/**
 * The one place that turns an absolute maximum into a scale, so that every backend agrees bit for bit.
 *
 * <p>scale = fmax / max(amax, EPS) in float32; with power-of-two scales it is rounded down to
 * 2^floor(log2(scale)), so that amax * scale never exceeds fmax and rescaling adds no rounding error.
 * Quantized values are q = saturate(round(x * scale)); dequantized, x ≈ q / scale.
 *
 * <p>MX scales are such powers of two too. OCP's rule, X = 2^(floor(log2(amax)) - emax), can push the
 * block's largest values past fmax, where they clip; float8j rounds the exponent the other way (as
 * Transformer Engine and cuBLAS do), so nothing in a block saturates.
 */
public final class Scales {
    /** Floor on amax, so an all-zero block gets a finite scale (torchao uses the same). */
    public static final float EPS = 1e-12f;

    private Scales() {
    }

    /** The scale that maps amax to the format's largest finite value (rounded down to a power of two when asked). */
    public static float scale(float amax, Fp8Format format, boolean powerOfTwo) {
        float scale = format.max() / Math.max(amax, EPS);
        return powerOfTwo ? roundDownToPowerOfTwo(scale) : scale;
    }

    /** 2^floor(log2(scale)) for a positive finite scale, kept within E8M0's range. */
    public static float roundDownToPowerOfTwo(float scale) {
        int exponent = Math.getExponent(scale);
        exponent = Math.max(-126, Math.min(127, exponent));
        return Math.scalb(1f, exponent);
    }
}
