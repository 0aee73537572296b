package dev.float8j.runtime.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Float32 loops of the model ops on whole vectors, each with a scalar tail, in float arithmetic throughout. */
final class FloatVectors {
    static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;

    private FloatVectors() {
    }

    /**
     * The widest float species of at most n lanes (down to 128 bits), so that short rows such as one head's
     * dimensions (16 or 64 floats) still run on whole vectors; rows under 4 floats take the scalar tails.
     */
    static VectorSpecies<Float> speciesFor(int n) {
        if (n >= FLOATS.length()) {
            return FLOATS;
        }
        if (n >= 8 && FloatVector.SPECIES_256.length() <= FLOATS.length()) {
            return FloatVector.SPECIES_256;
        }
        return FloatVector.SPECIES_128;
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
    static float dot(VectorSpecies<Float> species, float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc = FloatVector.zero(species);
        int i = 0;
        for (int end = species.loopBound(n); i < end; i += species.length()) {
            acc = FloatVector.fromArray(species, a, aOff + i).fma(FloatVector.fromArray(species, b, bOff + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            sum += a[aOff + i] * b[bOff + i];
        }
        return sum;
    }

    /** y[yOff + i] += alpha · x[xOff + i] over i in [0, n). */
    static void axpy(VectorSpecies<Float> species, float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        FloatVector a = FloatVector.broadcast(species, alpha);
        int i = 0;
        for (int end = species.loopBound(n); i < end; i += species.length()) {
            FloatVector.fromArray(species, x, xOff + i).fma(a, FloatVector.fromArray(species, y, yOff + i))
                    .intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] += alpha * x[xOff + i];
        }
    }

    /** y[off + i] *= factor over i in [0, n). */
    static void scale(VectorSpecies<Float> species, float[] y, int off, int n, float factor) {
        int i = 0;
        for (int end = species.loopBound(n); i < end; i += species.length()) {
            FloatVector.fromArray(species, y, off + i).mul(factor).intoArray(y, off + i);
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
