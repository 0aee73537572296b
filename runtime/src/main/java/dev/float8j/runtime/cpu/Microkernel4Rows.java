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
        FloatVector c00 = FloatVector.fromArray(SPECIES, c, o0);
        FloatVector c01 = FloatVector.fromArray(SPECIES, c, o0 + LANES);
        int o1 = cOff + ldc;
        FloatVector c10 = FloatVector.fromArray(SPECIES, c, o1);
        FloatVector c11 = FloatVector.fromArray(SPECIES, c, o1 + LANES);
        int o2 = cOff + 2 * ldc;
        FloatVector c20 = FloatVector.fromArray(SPECIES, c, o2);
        FloatVector c21 = FloatVector.fromArray(SPECIES, c, o2 + LANES);
        int o3 = cOff + 3 * ldc;
        FloatVector c30 = FloatVector.fromArray(SPECIES, c, o3);
        FloatVector c31 = FloatVector.fromArray(SPECIES, c, o3 + LANES);
        for (int k = 0; k < len; k++) {
            int bi = bo + k * 2 * LANES;
            int ai = ao + k * ROWS;
            FloatVector b0 = FloatVector.fromArray(SPECIES, b, bi);
            FloatVector b1 = FloatVector.fromArray(SPECIES, b, bi + LANES);
            FloatVector x0 = FloatVector.broadcast(SPECIES, a[ai]);
            c00 = x0.fma(b0, c00);
            c01 = x0.fma(b1, c01);
            FloatVector x1 = FloatVector.broadcast(SPECIES, a[ai + 1]);
            c10 = x1.fma(b0, c10);
            c11 = x1.fma(b1, c11);
            FloatVector x2 = FloatVector.broadcast(SPECIES, a[ai + 2]);
            c20 = x2.fma(b0, c20);
            c21 = x2.fma(b1, c21);
            FloatVector x3 = FloatVector.broadcast(SPECIES, a[ai + 3]);
            c30 = x3.fma(b0, c30);
            c31 = x3.fma(b1, c31);
        }
        c00.intoArray(c, o0);
        c01.intoArray(c, o0 + LANES);
        c10.intoArray(c, o1);
        c11.intoArray(c, o1 + LANES);
        c20.intoArray(c, o2);
        c21.intoArray(c, o2 + LANES);
        c30.intoArray(c, o3);
        c31.intoArray(c, o3 + LANES);
    }

    /**
     * C += (A.B over len k values) * ((1/sa) * (1/sb)), the inverse scales packed per row and column; the
     * product of the inverse scales is rounded first, as the reference does.
     */
    static void accumulateScaled(float[] a, int ao, float[] b, int bo, int len, float[] sa, int so, float[] sb,
            int sbo, float[] c, int cOff, int ldc) {
        FloatVector c00 = FloatVector.zero(SPECIES), c01 = FloatVector.zero(SPECIES);
        FloatVector c10 = FloatVector.zero(SPECIES), c11 = FloatVector.zero(SPECIES);
        FloatVector c20 = FloatVector.zero(SPECIES), c21 = FloatVector.zero(SPECIES);
        FloatVector c30 = FloatVector.zero(SPECIES), c31 = FloatVector.zero(SPECIES);
        for (int k = 0; k < len; k++) {
            int bi = bo + k * 2 * LANES;
            int ai = ao + k * ROWS;
            FloatVector b0 = FloatVector.fromArray(SPECIES, b, bi);
            FloatVector b1 = FloatVector.fromArray(SPECIES, b, bi + LANES);
            FloatVector x0 = FloatVector.broadcast(SPECIES, a[ai]);
            c00 = x0.fma(b0, c00);
            c01 = x0.fma(b1, c01);
            FloatVector x1 = FloatVector.broadcast(SPECIES, a[ai + 1]);
            c10 = x1.fma(b0, c10);
            c11 = x1.fma(b1, c11);
            FloatVector x2 = FloatVector.broadcast(SPECIES, a[ai + 2]);
            c20 = x2.fma(b0, c20);
            c21 = x2.fma(b1, c21);
            FloatVector x3 = FloatVector.broadcast(SPECIES, a[ai + 3]);
            c30 = x3.fma(b0, c30);
            c31 = x3.fma(b1, c31);
        }
        FloatVector sb0 = FloatVector.fromArray(SPECIES, sb, sbo);
        FloatVector sb1 = FloatVector.fromArray(SPECIES, sb, sbo + LANES);
        int o0 = cOff;
        FloatVector s0 = FloatVector.broadcast(SPECIES, sa[so]);
        FloatVector.fromArray(SPECIES, c, o0).add(c00.mul(sb0.mul(s0))).intoArray(c, o0);
        FloatVector.fromArray(SPECIES, c, o0 + LANES).add(c01.mul(sb1.mul(s0))).intoArray(c, o0 + LANES);
        int o1 = cOff + ldc;
        FloatVector s1 = FloatVector.broadcast(SPECIES, sa[so + 1]);
        FloatVector.fromArray(SPECIES, c, o1).add(c10.mul(sb0.mul(s1))).intoArray(c, o1);
        FloatVector.fromArray(SPECIES, c, o1 + LANES).add(c11.mul(sb1.mul(s1))).intoArray(c, o1 + LANES);
        int o2 = cOff + 2 * ldc;
        FloatVector s2 = FloatVector.broadcast(SPECIES, sa[so + 2]);
        FloatVector.fromArray(SPECIES, c, o2).add(c20.mul(sb0.mul(s2))).intoArray(c, o2);
        FloatVector.fromArray(SPECIES, c, o2 + LANES).add(c21.mul(sb1.mul(s2))).intoArray(c, o2 + LANES);
        int o3 = cOff + 3 * ldc;
        FloatVector s3 = FloatVector.broadcast(SPECIES, sa[so + 3]);
        FloatVector.fromArray(SPECIES, c, o3).add(c30.mul(sb0.mul(s3))).intoArray(c, o3);
        FloatVector.fromArray(SPECIES, c, o3 + LANES).add(c31.mul(sb1.mul(s3))).intoArray(c, o3 + LANES);
    }
}
