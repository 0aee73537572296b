package dev.float8j.runtime.cpu;

import static dev.float8j.runtime.cpu.Microkernel.LANES;
import static dev.float8j.runtime.cpu.Microkernel.SPECIES;

import jdk.incubator.vector.FloatVector;

/**
 * The tile for 32 vector registers (AVX-512): 12 rows x 2 vectors, 24 accumulators plus two B vectors and one
 * broadcast. Per k it does 24 FMAs for 2 vector loads and 12 broadcast loads, where the 4-row tile did 8 FMAs
 * for 2 + 4: the per-k loop overhead and the load and broadcast work are spread over three times the FMAs.
 *
 * <p>Written out without helper methods or arrays of vectors, each method small enough for C2 to compile
 * whole: a kernel that outgrows C2's inlining budget ({@code NodeCountInliningCutoff}) leaves Vector API calls
 * un-inlined, and the vectors they touch are then allocated on the heap.
 */
final class Microkernel12Rows {
    static final int ROWS = 12;

    private Microkernel12Rows() {
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
        int o4 = cOff + 4 * ldc;
        FloatVector c40 = FloatVector.fromArray(SPECIES, c, o4);
        FloatVector c41 = FloatVector.fromArray(SPECIES, c, o4 + LANES);
        int o5 = cOff + 5 * ldc;
        FloatVector c50 = FloatVector.fromArray(SPECIES, c, o5);
        FloatVector c51 = FloatVector.fromArray(SPECIES, c, o5 + LANES);
        int o6 = cOff + 6 * ldc;
        FloatVector c60 = FloatVector.fromArray(SPECIES, c, o6);
        FloatVector c61 = FloatVector.fromArray(SPECIES, c, o6 + LANES);
        int o7 = cOff + 7 * ldc;
        FloatVector c70 = FloatVector.fromArray(SPECIES, c, o7);
        FloatVector c71 = FloatVector.fromArray(SPECIES, c, o7 + LANES);
        int o8 = cOff + 8 * ldc;
        FloatVector c80 = FloatVector.fromArray(SPECIES, c, o8);
        FloatVector c81 = FloatVector.fromArray(SPECIES, c, o8 + LANES);
        int o9 = cOff + 9 * ldc;
        FloatVector c90 = FloatVector.fromArray(SPECIES, c, o9);
        FloatVector c91 = FloatVector.fromArray(SPECIES, c, o9 + LANES);
        int o10 = cOff + 10 * ldc;
        FloatVector c100 = FloatVector.fromArray(SPECIES, c, o10);
        FloatVector c101 = FloatVector.fromArray(SPECIES, c, o10 + LANES);
        int o11 = cOff + 11 * ldc;
        FloatVector c110 = FloatVector.fromArray(SPECIES, c, o11);
        FloatVector c111 = FloatVector.fromArray(SPECIES, c, o11 + LANES);
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
            FloatVector x4 = FloatVector.broadcast(SPECIES, a[ai + 4]);
            c40 = x4.fma(b0, c40);
            c41 = x4.fma(b1, c41);
            FloatVector x5 = FloatVector.broadcast(SPECIES, a[ai + 5]);
            c50 = x5.fma(b0, c50);
            c51 = x5.fma(b1, c51);
            FloatVector x6 = FloatVector.broadcast(SPECIES, a[ai + 6]);
            c60 = x6.fma(b0, c60);
            c61 = x6.fma(b1, c61);
            FloatVector x7 = FloatVector.broadcast(SPECIES, a[ai + 7]);
            c70 = x7.fma(b0, c70);
            c71 = x7.fma(b1, c71);
            FloatVector x8 = FloatVector.broadcast(SPECIES, a[ai + 8]);
            c80 = x8.fma(b0, c80);
            c81 = x8.fma(b1, c81);
            FloatVector x9 = FloatVector.broadcast(SPECIES, a[ai + 9]);
            c90 = x9.fma(b0, c90);
            c91 = x9.fma(b1, c91);
            FloatVector x10 = FloatVector.broadcast(SPECIES, a[ai + 10]);
            c100 = x10.fma(b0, c100);
            c101 = x10.fma(b1, c101);
            FloatVector x11 = FloatVector.broadcast(SPECIES, a[ai + 11]);
            c110 = x11.fma(b0, c110);
            c111 = x11.fma(b1, c111);
        }
        c00.intoArray(c, o0);
        c01.intoArray(c, o0 + LANES);
        c10.intoArray(c, o1);
        c11.intoArray(c, o1 + LANES);
        c20.intoArray(c, o2);
        c21.intoArray(c, o2 + LANES);
        c30.intoArray(c, o3);
        c31.intoArray(c, o3 + LANES);
        c40.intoArray(c, o4);
        c41.intoArray(c, o4 + LANES);
        c50.intoArray(c, o5);
        c51.intoArray(c, o5 + LANES);
        c60.intoArray(c, o6);
        c61.intoArray(c, o6 + LANES);
        c70.intoArray(c, o7);
        c71.intoArray(c, o7 + LANES);
        c80.intoArray(c, o8);
        c81.intoArray(c, o8 + LANES);
        c90.intoArray(c, o9);
        c91.intoArray(c, o9 + LANES);
        c100.intoArray(c, o10);
        c101.intoArray(c, o10 + LANES);
        c110.intoArray(c, o11);
        c111.intoArray(c, o11 + LANES);
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
        FloatVector c40 = FloatVector.zero(SPECIES), c41 = FloatVector.zero(SPECIES);
        FloatVector c50 = FloatVector.zero(SPECIES), c51 = FloatVector.zero(SPECIES);
        FloatVector c60 = FloatVector.zero(SPECIES), c61 = FloatVector.zero(SPECIES);
        FloatVector c70 = FloatVector.zero(SPECIES), c71 = FloatVector.zero(SPECIES);
        FloatVector c80 = FloatVector.zero(SPECIES), c81 = FloatVector.zero(SPECIES);
        FloatVector c90 = FloatVector.zero(SPECIES), c91 = FloatVector.zero(SPECIES);
        FloatVector c100 = FloatVector.zero(SPECIES), c101 = FloatVector.zero(SPECIES);
        FloatVector c110 = FloatVector.zero(SPECIES), c111 = FloatVector.zero(SPECIES);
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
            FloatVector x4 = FloatVector.broadcast(SPECIES, a[ai + 4]);
            c40 = x4.fma(b0, c40);
            c41 = x4.fma(b1, c41);
            FloatVector x5 = FloatVector.broadcast(SPECIES, a[ai + 5]);
            c50 = x5.fma(b0, c50);
            c51 = x5.fma(b1, c51);
            FloatVector x6 = FloatVector.broadcast(SPECIES, a[ai + 6]);
            c60 = x6.fma(b0, c60);
            c61 = x6.fma(b1, c61);
            FloatVector x7 = FloatVector.broadcast(SPECIES, a[ai + 7]);
            c70 = x7.fma(b0, c70);
            c71 = x7.fma(b1, c71);
            FloatVector x8 = FloatVector.broadcast(SPECIES, a[ai + 8]);
            c80 = x8.fma(b0, c80);
            c81 = x8.fma(b1, c81);
            FloatVector x9 = FloatVector.broadcast(SPECIES, a[ai + 9]);
            c90 = x9.fma(b0, c90);
            c91 = x9.fma(b1, c91);
            FloatVector x10 = FloatVector.broadcast(SPECIES, a[ai + 10]);
            c100 = x10.fma(b0, c100);
            c101 = x10.fma(b1, c101);
            FloatVector x11 = FloatVector.broadcast(SPECIES, a[ai + 11]);
            c110 = x11.fma(b0, c110);
            c111 = x11.fma(b1, c111);
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
        int o4 = cOff + 4 * ldc;
        FloatVector s4 = FloatVector.broadcast(SPECIES, sa[so + 4]);
        FloatVector.fromArray(SPECIES, c, o4).add(c40.mul(sb0.mul(s4))).intoArray(c, o4);
        FloatVector.fromArray(SPECIES, c, o4 + LANES).add(c41.mul(sb1.mul(s4))).intoArray(c, o4 + LANES);
        int o5 = cOff + 5 * ldc;
        FloatVector s5 = FloatVector.broadcast(SPECIES, sa[so + 5]);
        FloatVector.fromArray(SPECIES, c, o5).add(c50.mul(sb0.mul(s5))).intoArray(c, o5);
        FloatVector.fromArray(SPECIES, c, o5 + LANES).add(c51.mul(sb1.mul(s5))).intoArray(c, o5 + LANES);
        int o6 = cOff + 6 * ldc;
        FloatVector s6 = FloatVector.broadcast(SPECIES, sa[so + 6]);
        FloatVector.fromArray(SPECIES, c, o6).add(c60.mul(sb0.mul(s6))).intoArray(c, o6);
        FloatVector.fromArray(SPECIES, c, o6 + LANES).add(c61.mul(sb1.mul(s6))).intoArray(c, o6 + LANES);
        int o7 = cOff + 7 * ldc;
        FloatVector s7 = FloatVector.broadcast(SPECIES, sa[so + 7]);
        FloatVector.fromArray(SPECIES, c, o7).add(c70.mul(sb0.mul(s7))).intoArray(c, o7);
        FloatVector.fromArray(SPECIES, c, o7 + LANES).add(c71.mul(sb1.mul(s7))).intoArray(c, o7 + LANES);
        int o8 = cOff + 8 * ldc;
        FloatVector s8 = FloatVector.broadcast(SPECIES, sa[so + 8]);
        FloatVector.fromArray(SPECIES, c, o8).add(c80.mul(sb0.mul(s8))).intoArray(c, o8);
        FloatVector.fromArray(SPECIES, c, o8 + LANES).add(c81.mul(sb1.mul(s8))).intoArray(c, o8 + LANES);
        int o9 = cOff + 9 * ldc;
        FloatVector s9 = FloatVector.broadcast(SPECIES, sa[so + 9]);
        FloatVector.fromArray(SPECIES, c, o9).add(c90.mul(sb0.mul(s9))).intoArray(c, o9);
        FloatVector.fromArray(SPECIES, c, o9 + LANES).add(c91.mul(sb1.mul(s9))).intoArray(c, o9 + LANES);
        int o10 = cOff + 10 * ldc;
        FloatVector s10 = FloatVector.broadcast(SPECIES, sa[so + 10]);
        FloatVector.fromArray(SPECIES, c, o10).add(c100.mul(sb0.mul(s10))).intoArray(c, o10);
        FloatVector.fromArray(SPECIES, c, o10 + LANES).add(c101.mul(sb1.mul(s10))).intoArray(c, o10 + LANES);
        int o11 = cOff + 11 * ldc;
        FloatVector s11 = FloatVector.broadcast(SPECIES, sa[so + 11]);
        FloatVector.fromArray(SPECIES, c, o11).add(c110.mul(sb0.mul(s11))).intoArray(c, o11);
        FloatVector.fromArray(SPECIES, c, o11 + LANES).add(c111.mul(sb1.mul(s11))).intoArray(c, o11 + LANES);
    }
}
