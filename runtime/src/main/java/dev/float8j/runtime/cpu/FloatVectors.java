package dev.float8j.runtime.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
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

    /** Σ a[i]² over [from, to). */
    static float sumOfSquares(float[] a, int from, int to) {
        FloatVector acc = FloatVector.zero(FLOATS);
        int i = from;
        for (int end = from + FLOATS.loopBound(to - from); i < end; i += FLOATS.length()) {
            FloatVector x = FloatVector.fromArray(FLOATS, a, i);
            acc = x.fma(x, acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
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
        float sum = wide.reduceLanes(VectorOperators.ADD);
        if (FLOATS.length() > NARROW.length()) {
            FloatVector narrow = FloatVector.zero(NARROW);
            for (int end = i + NARROW.loopBound(n - i); i < end; i += NARROW.length()) {
                narrow = FloatVector.fromArray(NARROW, a, aOff + i).fma(FloatVector.fromArray(NARROW, b, bOff + i), narrow);
            }
            sum += narrow.reduceLanes(VectorOperators.ADD);
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

    /** e^x rounded to float, for scalar tails (the vector EXP is accurate to about an ulp as well). */
    static float exp(float x) {
        return (float) Math.exp(x);
    }
}
