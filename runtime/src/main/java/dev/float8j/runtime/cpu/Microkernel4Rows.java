package dev.float8j.runtime.cpu;

import static dev.float8j.runtime.cpu.Microkernel.LANES;
import static dev.float8j.runtime.cpu.Microkernel.SPECIES;

import jdk.incubator.vector.FloatVector;

/**
 * The tile for 16 vector registers (AVX2): 4 rows x 2 vectors, eight accumulators, one broadcast per row and
 * k. With 16 registers, 4 x 2 leaves C2 room to keep everything in registers (6 x 2, the usual hand-written
 * AVX2 choice, made C2 spill and ran at half speed), and eight independent accumulators cover the FMA latency.
 *
 * <p>Written out without helper methods or arrays of vectors, each method small enough for C2 to compile
 * whole: a kernel that outgrows C2's inlining budget ({@code NodeCountInliningCutoff}) leaves Vector API calls
 * un-inlined, and the vectors they touch are then allocated on the heap.
 */
final class Microkernel4Rows {
    static final int ROWS = 4;

    private Microkernel4Rows() {
    }

    /** C += A.B over len k values, accumulating onto C itself (its loads are issued before the loop, not after). */
    static void accumulate(float[] a, int ao, float[] b, int bo, int len, float[] c, int cOff, int ldc) {
        int o0 = cOff;
        int o1 = cOff + ldc;
        int o2 = cOff + 2 * ldc;
        int o3 = cOff + 3 * ldc;
        FloatVector c0a = FloatVector.fromArray(SPECIES, c, o0);
        FloatVector c0b = FloatVector.fromArray(SPECIES, c, o0 + LANES);
        FloatVector c1a = FloatVector.fromArray(SPECIES, c, o1);
        FloatVector c1b = FloatVector.fromArray(SPECIES, c, o1 + LANES);
        FloatVector c2a = FloatVector.fromArray(SPECIES, c, o2);
        FloatVector c2b = FloatVector.fromArray(SPECIES, c, o2 + LANES);
        FloatVector c3a = FloatVector.fromArray(SPECIES, c, o3);
        FloatVector c3b = FloatVector.fromArray(SPECIES, c, o3 + LANES);
        for (int k = 0; k < len; k++) {
            int bi = bo + k * 2 * LANES;
            int ai = ao + k * ROWS;
            FloatVector b0 = FloatVector.fromArray(SPECIES, b, bi);
            FloatVector b1 = FloatVector.fromArray(SPECIES, b, bi + LANES);
            FloatVector x0 = FloatVector.broadcast(SPECIES, a[ai]);
            c0a = x0.fma(b0, c0a);
            c0b = x0.fma(b1, c0b);
            FloatVector x1 = FloatVector.broadcast(SPECIES, a[ai + 1]);
            c1a = x1.fma(b0, c1a);
            c1b = x1.fma(b1, c1b);
            FloatVector x2 = FloatVector.broadcast(SPECIES, a[ai + 2]);
            c2a = x2.fma(b0, c2a);
            c2b = x2.fma(b1, c2b);
            FloatVector x3 = FloatVector.broadcast(SPECIES, a[ai + 3]);
            c3a = x3.fma(b0, c3a);
            c3b = x3.fma(b1, c3b);
        }
        c0a.intoArray(c, o0);
        c0b.intoArray(c, o0 + LANES);
        c1a.intoArray(c, o1);
        c1b.intoArray(c, o1 + LANES);
        c2a.intoArray(c, o2);
        c2b.intoArray(c, o2 + LANES);
        c3a.intoArray(c, o3);
        c3b.intoArray(c, o3 + LANES);
    }

    /**
     * C += (A.B over len k values) * ((1/sa) * (1/sb)), the inverse scales packed per row and column; the
     * product of the inverse scales is rounded first, as the reference does.
     */
    static void accumulateScaled(float[] a, int ao, float[] b, int bo, int len, float[] sa, int so, float[] sb,
            int sbo, float[] c, int cOff, int ldc) {
        FloatVector c0a = FloatVector.zero(SPECIES), c0b = FloatVector.zero(SPECIES);
        FloatVector c1a = FloatVector.zero(SPECIES), c1b = FloatVector.zero(SPECIES);
        FloatVector c2a = FloatVector.zero(SPECIES), c2b = FloatVector.zero(SPECIES);
        FloatVector c3a = FloatVector.zero(SPECIES), c3b = FloatVector.zero(SPECIES);
        for (int k = 0; k < len; k++) {
            int bi = bo + k * 2 * LANES;
            int ai = ao + k * ROWS;
            FloatVector b0 = FloatVector.fromArray(SPECIES, b, bi);
            FloatVector b1 = FloatVector.fromArray(SPECIES, b, bi + LANES);
            FloatVector x0 = FloatVector.broadcast(SPECIES, a[ai]);
            c0a = x0.fma(b0, c0a);
            c0b = x0.fma(b1, c0b);
            FloatVector x1 = FloatVector.broadcast(SPECIES, a[ai + 1]);
            c1a = x1.fma(b0, c1a);
            c1b = x1.fma(b1, c1b);
            FloatVector x2 = FloatVector.broadcast(SPECIES, a[ai + 2]);
            c2a = x2.fma(b0, c2a);
            c2b = x2.fma(b1, c2b);
            FloatVector x3 = FloatVector.broadcast(SPECIES, a[ai + 3]);
            c3a = x3.fma(b0, c3a);
            c3b = x3.fma(b1, c3b);
        }
        FloatVector sb0 = FloatVector.fromArray(SPECIES, sb, sbo);
        FloatVector sb1 = FloatVector.fromArray(SPECIES, sb, sbo + LANES);
        int o0 = cOff;
        int o1 = cOff + ldc;
        int o2 = cOff + 2 * ldc;
        int o3 = cOff + 3 * ldc;
        FloatVector s0 = FloatVector.broadcast(SPECIES, sa[so]);
        FloatVector.fromArray(SPECIES, c, o0).add(c0a.mul(sb0.mul(s0))).intoArray(c, o0);
        FloatVector.fromArray(SPECIES, c, o0 + LANES).add(c0b.mul(sb1.mul(s0))).intoArray(c, o0 + LANES);
        FloatVector s1 = FloatVector.broadcast(SPECIES, sa[so + 1]);
        FloatVector.fromArray(SPECIES, c, o1).add(c1a.mul(sb0.mul(s1))).intoArray(c, o1);
        FloatVector.fromArray(SPECIES, c, o1 + LANES).add(c1b.mul(sb1.mul(s1))).intoArray(c, o1 + LANES);
        FloatVector s2 = FloatVector.broadcast(SPECIES, sa[so + 2]);
        FloatVector.fromArray(SPECIES, c, o2).add(c2a.mul(sb0.mul(s2))).intoArray(c, o2);
        FloatVector.fromArray(SPECIES, c, o2 + LANES).add(c2b.mul(sb1.mul(s2))).intoArray(c, o2 + LANES);
        FloatVector s3 = FloatVector.broadcast(SPECIES, sa[so + 3]);
        FloatVector.fromArray(SPECIES, c, o3).add(c3a.mul(sb0.mul(s3))).intoArray(c, o3);
        FloatVector.fromArray(SPECIES, c, o3 + LANES).add(c3b.mul(sb1.mul(s3))).intoArray(c, o3 + LANES);
    }
}
