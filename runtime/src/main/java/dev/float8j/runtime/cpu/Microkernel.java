package dev.float8j.runtime.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register-blocked inner kernel: a {@link #MR} x {@link #NR} tile of C, held as twelve vector
 * accumulators (6 rows x 2 vectors), updated by broadcasting one packed A element per row and
 * multiplying it into two packed B vectors with FMA. With 16 vector registers (AVX2) this is 12
 * accumulators + 2 B vectors + 1 broadcast.
 *
 * <p>K is walked in segments: each segment is summed from zero in registers, then added to C, scaled
 * by {@code (1/sa) * (1/sb)} when the operands carry block scales (DeepSeek-style promotion).
 */
final class Microkernel {
    static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    static final int LANES = SPECIES.length();
    static final int MR = 6;
    static final int NR = 2 * LANES;

    private Microkernel() {
    }

    /**
     * C[r][c] += sum over k of A[k][r] * B[k][c], for the packed panels A (kc x MR) and B (kc x NR).
     * Segments of {@code segment} k values are summed apart; if {@code sa} is not null, segment s is
     * scaled by {@code sa[saOff + s*MR + r] * sb[sbOff + s*NR + c]} before it is added.
     */
    static void run(float[] a, int aOff, float[] b, int bOff, int kc, int segment, float[] sa, int saOff,
            float[] sb, int sbOff, float[] c, int cOff, int ldc) {
        for (int s0 = 0, s = 0; s0 < kc; s0 += segment, s++) {
            int len = Math.min(segment, kc - s0);
            int ao = aOff + s0 * MR;
            int bo = bOff + s0 * NR;
            FloatVector c00 = FloatVector.zero(SPECIES), c01 = FloatVector.zero(SPECIES);
            FloatVector c10 = FloatVector.zero(SPECIES), c11 = FloatVector.zero(SPECIES);
            FloatVector c20 = FloatVector.zero(SPECIES), c21 = FloatVector.zero(SPECIES);
            FloatVector c30 = FloatVector.zero(SPECIES), c31 = FloatVector.zero(SPECIES);
            FloatVector c40 = FloatVector.zero(SPECIES), c41 = FloatVector.zero(SPECIES);
            FloatVector c50 = FloatVector.zero(SPECIES), c51 = FloatVector.zero(SPECIES);
            for (int k = 0; k < len; k++) {
                int bi = bo + k * NR;
                int ai = ao + k * MR;
                FloatVector b0 = FloatVector.fromArray(SPECIES, b, bi);
                FloatVector b1 = FloatVector.fromArray(SPECIES, b, bi + LANES);
                FloatVector x = FloatVector.broadcast(SPECIES, a[ai]);
                c00 = x.fma(b0, c00);
                c01 = x.fma(b1, c01);
                x = FloatVector.broadcast(SPECIES, a[ai + 1]);
                c10 = x.fma(b0, c10);
                c11 = x.fma(b1, c11);
                x = FloatVector.broadcast(SPECIES, a[ai + 2]);
                c20 = x.fma(b0, c20);
                c21 = x.fma(b1, c21);
                x = FloatVector.broadcast(SPECIES, a[ai + 3]);
                c30 = x.fma(b0, c30);
                c31 = x.fma(b1, c31);
                x = FloatVector.broadcast(SPECIES, a[ai + 4]);
                c40 = x.fma(b0, c40);
                c41 = x.fma(b1, c41);
                x = FloatVector.broadcast(SPECIES, a[ai + 5]);
                c50 = x.fma(b0, c50);
                c51 = x.fma(b1, c51);
            }
            if (sa == null) {
                addRow(c, cOff, c00, c01);
                addRow(c, cOff + ldc, c10, c11);
                addRow(c, cOff + 2 * ldc, c20, c21);
                addRow(c, cOff + 3 * ldc, c30, c31);
                addRow(c, cOff + 4 * ldc, c40, c41);
                addRow(c, cOff + 5 * ldc, c50, c51);
            } else {
                int so = saOff + s * MR;
                FloatVector sb0 = FloatVector.fromArray(SPECIES, sb, sbOff + s * NR);
                FloatVector sb1 = FloatVector.fromArray(SPECIES, sb, sbOff + s * NR + LANES);
                addScaledRow(c, cOff, c00, c01, sa[so], sb0, sb1);
                addScaledRow(c, cOff + ldc, c10, c11, sa[so + 1], sb0, sb1);
                addScaledRow(c, cOff + 2 * ldc, c20, c21, sa[so + 2], sb0, sb1);
                addScaledRow(c, cOff + 3 * ldc, c30, c31, sa[so + 3], sb0, sb1);
                addScaledRow(c, cOff + 4 * ldc, c40, c41, sa[so + 4], sb0, sb1);
                addScaledRow(c, cOff + 5 * ldc, c50, c51, sa[so + 5], sb0, sb1);
            }
        }
    }

    private static void addRow(float[] c, int off, FloatVector v0, FloatVector v1) {
        FloatVector.fromArray(SPECIES, c, off).add(v0).intoArray(c, off);
        FloatVector.fromArray(SPECIES, c, off + LANES).add(v1).intoArray(c, off + LANES);
    }

    /** C += partial * ((1/sa) * (1/sb)): the product of inverse scales first, as the reference rounds it. */
    private static void addScaledRow(float[] c, int off, FloatVector v0, FloatVector v1, float inverseA,
            FloatVector inverseB0, FloatVector inverseB1) {
        FloatVector.fromArray(SPECIES, c, off).add(v0.mul(inverseB0.mul(inverseA))).intoArray(c, off);
        FloatVector.fromArray(SPECIES, c, off + LANES).add(v1.mul(inverseB1.mul(inverseA))).intoArray(c, off + LANES);
    }
}
