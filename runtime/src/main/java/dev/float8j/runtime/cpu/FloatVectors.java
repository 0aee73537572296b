package dev.float8j.runtime.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 loops of the model ops on whole vectors, in float arithmetic throughout.
 *
 * <p>The loops over one head's dimensions (often 16 to 128 floats, sometimes fewer than one preferred vector) take
 * the preferred width, then 128-bit vectors, then a scalar tail, each loop written out with its static final
 * species: the Vector API compiles to vector instructions only where the species is a constant in the compiled
 * code. A species read from a field, or passed to a helper that the JIT compiles on its own rather than inlining,
 * leaves the vectors as objects, many times slower than scalar code.
 */
final class FloatVectors {
    static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Float> NARROW = FloatVector.SPECIES_128;

    private FloatVectors() {
    }

    /** Rotations of FLOATS by 1, 2, 4, ... lanes: lane i takes lane (i + k) mod the length. */
    private static final VectorShuffle<Float> BY_1 = rotation(FLOATS, 1);
    private static final VectorShuffle<Float> BY_2 = rotation(FLOATS, 2);
    private static final VectorShuffle<Float> BY_4 = rotation(FLOATS, 4);
    private static final VectorShuffle<Float> BY_8 = rotation(FLOATS, 8);
    private static final VectorShuffle<Float> BY_16 = rotation(FLOATS, 16);
    private static final VectorShuffle<Float> BY_32 = rotation(FLOATS, 32);
    private static final VectorShuffle<Float> NARROW_BY_1 = rotation(NARROW, 1);
    private static final VectorShuffle<Float> NARROW_BY_2 = rotation(NARROW, 2);

    private static VectorShuffle<Float> rotation(VectorSpecies<Float> species, int k) {
        return VectorShuffle.fromOp(species, i -> (i + k) % species.length());
    }

    /**
     * The sum of v's lanes (FLOATS), added in a fixed tree: lane i + half into lane i, halving. The Vector API's
     * reduceLanes(ADD) leaves the order of float additions open, and its interpreted and compiled forms do differ,
     * so a training step's losses depended on when the JIT compiled the loop; this order is the same in both. Each
     * level adds a rotation by a constant shuffle (the lanes a rotation wraps into are never read again), which the
     * JIT compiles to one permute: 1.6 ns a 16-lane sum against 5.5 ns for slices by a loop variable, and 1.6
     * against 38 ns before the slices' loop was compiled (a timed program, this AMX VM).
     */
    static float sumLanes(FloatVector v) {
        int lanes = FLOATS.length();
        if (lanes > 32) {
            v = v.add(v.rearrange(BY_32));
        }
        if (lanes > 16) {
            v = v.add(v.rearrange(BY_16));
        }
        if (lanes > 8) {
            v = v.add(v.rearrange(BY_8));
        }
        if (lanes > 4) {
            v = v.add(v.rearrange(BY_4));
        }
        v = v.add(v.rearrange(BY_2));
        return v.add(v.rearrange(BY_1)).lane(0);
    }

    /** As {@link #sumLanes}, for a NARROW vector (four lanes). */
    static float sumNarrowLanes(FloatVector v) {
        v = v.add(v.rearrange(NARROW_BY_2));
        return v.add(v.rearrange(NARROW_BY_1)).lane(0);
    }

    /** Σ a[i]² over [from, to). */
    static float sumOfSquares(float[] a, int from, int to) {
        FloatVector acc = FloatVector.zero(FLOATS);
        int i = from;
        for (int end = from + FLOATS.loopBound(to - from); i < end; i += FLOATS.length()) {
            FloatVector x = FloatVector.fromArray(FLOATS, a, i);
            acc = x.fma(x, acc);
        }
        float sum = sumLanes(acc);
        for (; i < to; i++) {
            sum += a[i] * a[i];
        }
        return sum;
    }

    /** Σ a[aOff + i] · b[bOff + i] over i in [0, n). */
    static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector wide = FloatVector.zero(FLOATS);
        int i = 0;
        for (int end = FLOATS.loopBound(n); i < end; i += FLOATS.length()) {
            wide = FloatVector.fromArray(FLOATS, a, aOff + i).fma(FloatVector.fromArray(FLOATS, b, bOff + i), wide);
        }
        float sum = sumLanes(wide);
        if (FLOATS.length() > NARROW.length()) {
            FloatVector narrow = FloatVector.zero(NARROW);
            for (int end = i + NARROW.loopBound(n - i); i < end; i += NARROW.length()) {
                narrow = FloatVector.fromArray(NARROW, a, aOff + i).fma(FloatVector.fromArray(NARROW, b, bOff + i), narrow);
            }
            sum += sumNarrowLanes(narrow);
        }
        for (; i < n; i++) {
            sum += a[aOff + i] * b[bOff + i];
        }
        return sum;
    }

    /** y[yOff + i] += alpha · x[xOff + i] over i in [0, n). */
    static void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        int i = 0;
        FloatVector wide = FloatVector.broadcast(FLOATS, alpha);
        for (int end = FLOATS.loopBound(n); i < end; i += FLOATS.length()) {
            FloatVector.fromArray(FLOATS, x, xOff + i).fma(wide, FloatVector.fromArray(FLOATS, y, yOff + i))
                    .intoArray(y, yOff + i);
        }
        FloatVector narrow = FloatVector.broadcast(NARROW, alpha);
        for (int end = i + NARROW.loopBound(n - i); i < end; i += NARROW.length()) {
            FloatVector.fromArray(NARROW, x, xOff + i).fma(narrow, FloatVector.fromArray(NARROW, y, yOff + i))
                    .intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] += alpha * x[xOff + i];
        }
    }

    /** y[off + i] *= factor over i in [0, n). */
    static void scale(float[] y, int off, int n, float factor) {
        int i = 0;
        for (int end = FLOATS.loopBound(n); i < end; i += FLOATS.length()) {
            FloatVector.fromArray(FLOATS, y, off + i).mul(factor).intoArray(y, off + i);
        }
        for (int end = i + NARROW.loopBound(n - i); i < end; i += NARROW.length()) {
            FloatVector.fromArray(NARROW, y, off + i).mul(factor).intoArray(y, off + i);
        }
        for (; i < n; i++) {
            y[off + i] *= factor;
        }
    }

    /**
     * e^x rounded to float, for scalar tails. StrictMath, so that interpreted and compiled code give the same bits
     * (as {@link #exp(FloatVector)} does for whole vectors).
     */
    static float exp(float x) {
        return (float) StrictMath.exp(x);
    }

    private static final float LOG2_E = 1.44269504f;
    /** ln 2 split in two, the first part with trailing zero bits, so that n · LN2_HIGH is exact for |n| < 256. */
    private static final float LN2_HIGH = 0.693145752f;
    private static final float LN2_LOW = 1.42860677e-6f;
    /** 1.5 · 2^23: adding and subtracting it rounds a float of magnitude below 2^22 to the nearest integer. */
    private static final float ROUNDING = 12582912f;

    /**
     * e^x lane by lane, to within about two ulps, computed from additions, multiplications and fused multiply-adds
     * only. The Vector API's own EXP runs an intrinsic in compiled code and Math.exp per lane in the interpreter,
     * which differ in the last bit: a training step's losses then depended on when the JIT compiled the loop.
     * e^x = 2^n · e^r with n = round(x / ln 2) and |r| ≤ ln 2 / 2, e^r by its Taylor polynomial of degree 7.
     * Lanes below -87 (where e^x is subnormal or zero) give 0; x is clamped at 88 above (softmax and SiLU never
     * need larger values).
     */
    static FloatVector exp(FloatVector x) {
        FloatVector clamped = x.max(-87f).min(88f);
        FloatVector n = clamped.mul(LOG2_E).add(ROUNDING).sub(ROUNDING);
        FloatVector r = n.fma(FloatVector.broadcast(x.species(), -LN2_HIGH), clamped);
        r = n.fma(FloatVector.broadcast(x.species(), -LN2_LOW), r);
        FloatVector p = r.fma(1f / 5040, 1f / 720);
        FloatVector one = FloatVector.broadcast(x.species(), 1f);
        p = p.fma(r, FloatVector.broadcast(x.species(), 1f / 120));
        p = p.fma(r, FloatVector.broadcast(x.species(), 1f / 24));
        p = p.fma(r, FloatVector.broadcast(x.species(), 1f / 6));
        p = p.fma(r, FloatVector.broadcast(x.species(), 0.5f));
        p = p.fma(r, one);
        p = p.fma(r, one);
        FloatVector twoToN = n.convert(VectorOperators.F2I, 0).reinterpretAsInts().add(127).lanewise(VectorOperators.LSHL, 23)
                .reinterpretAsFloats();
        return p.mul(twoToN).blend(0f, x.lt(-87f));
    }
}
