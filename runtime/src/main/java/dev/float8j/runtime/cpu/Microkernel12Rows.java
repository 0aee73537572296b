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
        int o1 = cOff + ldc;
        int o2 = cOff + 2 * ldc;
        int o3 = cOff + 3 * ldc;
        int o4 = cOff + 4 * ldc;
        int o5 = cOff + 5 * ldc;
        int o6 = cOff + 6 * ldc;
        int o7 = cOff + 7 * ldc;
        int o8 = cOff + 8 * ldc;
        int o9 = cOff + 9 * ldc;
        int o10 = cOff + 10 * ldc;
        int o11 = cOff + 11 * ldc;
        FloatVector c0a = FloatVector.fromArray(SPECIES, c, o0);
        FloatVector c0b = FloatVector.fromArray(SPECIES, c, o0 + LANES);
        FloatVector c1a = FloatVector.fromArray(SPECIES, c, o1);
        FloatVector c1b = FloatVector.fromArray(SPECIES, c, o1 + LANES);
        FloatVector c2a = FloatVector.fromArray(SPECIES, c, o2);
        FloatVector c2b = FloatVector.fromArray(SPECIES, c, o2 + LANES);
        FloatVector c3a = FloatVector.fromArray(SPECIES, c, o3);
        FloatVector c3b = FloatVector.fromArray(SPECIES, c, o3 + LANES);
        FloatVector c4a = FloatVector.fromArray(SPECIES, c, o4);
        FloatVector c4b = FloatVector.fromArray(SPECIES, c, o4 + LANES);
        FloatVector c5a = FloatVector.fromArray(SPECIES, c, o5);
        FloatVector c5b = FloatVector.fromArray(SPECIES, c, o5 + LANES);
        FloatVector c6a = FloatVector.fromArray(SPECIES, c, o6);
        FloatVector c6b = FloatVector.fromArray(SPECIES, c, o6 + LANES);
        FloatVector c7a = FloatVector.fromArray(SPECIES, c, o7);
        FloatVector c7b = FloatVector.fromArray(SPECIES, c, o7 + LANES);
        FloatVector c8a = FloatVector.fromArray(SPECIES, c, o8);
        FloatVector c8b = FloatVector.fromArray(SPECIES, c, o8 + LANES);
        FloatVector c9a = FloatVector.fromArray(SPECIES, c, o9);
        FloatVector c9b = FloatVector.fromArray(SPECIES, c, o9 + LANES);
        FloatVector c10a = FloatVector.fromArray(SPECIES, c, o10);
        FloatVector c10b = FloatVector.fromArray(SPECIES, c, o10 + LANES);
        FloatVector c11a = FloatVector.fromArray(SPECIES, c, o11);
        FloatVector c11b = FloatVector.fromArray(SPECIES, c, o11 + LANES);
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
            FloatVector x4 = FloatVector.broadcast(SPECIES, a[ai + 4]);
            c4a = x4.fma(b0, c4a);
            c4b = x4.fma(b1, c4b);
            FloatVector x5 = FloatVector.broadcast(SPECIES, a[ai + 5]);
            c5a = x5.fma(b0, c5a);
            c5b = x5.fma(b1, c5b);
            FloatVector x6 = FloatVector.broadcast(SPECIES, a[ai + 6]);
            c6a = x6.fma(b0, c6a);
            c6b = x6.fma(b1, c6b);
            FloatVector x7 = FloatVector.broadcast(SPECIES, a[ai + 7]);
            c7a = x7.fma(b0, c7a);
            c7b = x7.fma(b1, c7b);
            FloatVector x8 = FloatVector.broadcast(SPECIES, a[ai + 8]);
            c8a = x8.fma(b0, c8a);
            c8b = x8.fma(b1, c8b);
            FloatVector x9 = FloatVector.broadcast(SPECIES, a[ai + 9]);
            c9a = x9.fma(b0, c9a);
            c9b = x9.fma(b1, c9b);
            FloatVector x10 = FloatVector.broadcast(SPECIES, a[ai + 10]);
            c10a = x10.fma(b0, c10a);
            c10b = x10.fma(b1, c10b);
            FloatVector x11 = FloatVector.broadcast(SPECIES, a[ai + 11]);
            c11a = x11.fma(b0, c11a);
            c11b = x11.fma(b1, c11b);
        }
        c0a.intoArray(c, o0);
        c0b.intoArray(c, o0 + LANES);
        c1a.intoArray(c, o1);
        c1b.intoArray(c, o1 + LANES);
        c2a.intoArray(c, o2);
        c2b.intoArray(c, o2 + LANES);
        c3a.intoArray(c, o3);
        c3b.intoArray(c, o3 + LANES);
        c4a.intoArray(c, o4);
        c4b.intoArray(c, o4 + LANES);
        c5a.intoArray(c, o5);
        c5b.intoArray(c, o5 + LANES);
        c6a.intoArray(c, o6);
        c6b.intoArray(c, o6 + LANES);
        c7a.intoArray(c, o7);
        c7b.intoArray(c, o7 + LANES);
        c8a.intoArray(c, o8);
        c8b.intoArray(c, o8 + LANES);
        c9a.intoArray(c, o9);
        c9b.intoArray(c, o9 + LANES);
        c10a.intoArray(c, o10);
        c10b.intoArray(c, o10 + LANES);
        c11a.intoArray(c, o11);
        c11b.intoArray(c, o11 + LANES);
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
        FloatVector c4a = FloatVector.zero(SPECIES), c4b = FloatVector.zero(SPECIES);
        FloatVector c5a = FloatVector.zero(SPECIES), c5b = FloatVector.zero(SPECIES);
        FloatVector c6a = FloatVector.zero(SPECIES), c6b = FloatVector.zero(SPECIES);
        FloatVector c7a = FloatVector.zero(SPECIES), c7b = FloatVector.zero(SPECIES);
        FloatVector c8a = FloatVector.zero(SPECIES), c8b = FloatVector.zero(SPECIES);
        FloatVector c9a = FloatVector.zero(SPECIES), c9b = FloatVector.zero(SPECIES);
        FloatVector c10a = FloatVector.zero(SPECIES), c10b = FloatVector.zero(SPECIES);
        FloatVector c11a = FloatVector.zero(SPECIES), c11b = FloatVector.zero(SPECIES);
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
            FloatVector x4 = FloatVector.broadcast(SPECIES, a[ai + 4]);
            c4a = x4.fma(b0, c4a);
            c4b = x4.fma(b1, c4b);
            FloatVector x5 = FloatVector.broadcast(SPECIES, a[ai + 5]);
            c5a = x5.fma(b0, c5a);
            c5b = x5.fma(b1, c5b);
            FloatVector x6 = FloatVector.broadcast(SPECIES, a[ai + 6]);
            c6a = x6.fma(b0, c6a);
            c6b = x6.fma(b1, c6b);
            FloatVector x7 = FloatVector.broadcast(SPECIES, a[ai + 7]);
            c7a = x7.fma(b0, c7a);
            c7b = x7.fma(b1, c7b);
            FloatVector x8 = FloatVector.broadcast(SPECIES, a[ai + 8]);
            c8a = x8.fma(b0, c8a);
            c8b = x8.fma(b1, c8b);
            FloatVector x9 = FloatVector.broadcast(SPECIES, a[ai + 9]);
            c9a = x9.fma(b0, c9a);
            c9b = x9.fma(b1, c9b);
            FloatVector x10 = FloatVector.broadcast(SPECIES, a[ai + 10]);
            c10a = x10.fma(b0, c10a);
            c10b = x10.fma(b1, c10b);
            FloatVector x11 = FloatVector.broadcast(SPECIES, a[ai + 11]);
            c11a = x11.fma(b0, c11a);
            c11b = x11.fma(b1, c11b);
        }
        FloatVector sb0 = FloatVector.fromArray(SPECIES, sb, sbo);
        FloatVector sb1 = FloatVector.fromArray(SPECIES, sb, sbo + LANES);
        int o0 = cOff;
        int o1 = cOff + ldc;
        int o2 = cOff + 2 * ldc;
        int o3 = cOff + 3 * ldc;
        int o4 = cOff + 4 * ldc;
        int o5 = cOff + 5 * ldc;
        int o6 = cOff + 6 * ldc;
        int o7 = cOff + 7 * ldc;
        int o8 = cOff + 8 * ldc;
        int o9 = cOff + 9 * ldc;
        int o10 = cOff + 10 * ldc;
        int o11 = cOff + 11 * ldc;
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
        FloatVector s4 = FloatVector.broadcast(SPECIES, sa[so + 4]);
        FloatVector.fromArray(SPECIES, c, o4).add(c4a.mul(sb0.mul(s4))).intoArray(c, o4);
        FloatVector.fromArray(SPECIES, c, o4 + LANES).add(c4b.mul(sb1.mul(s4))).intoArray(c, o4 + LANES);
        FloatVector s5 = FloatVector.broadcast(SPECIES, sa[so + 5]);
        FloatVector.fromArray(SPECIES, c, o5).add(c5a.mul(sb0.mul(s5))).intoArray(c, o5);
        FloatVector.fromArray(SPECIES, c, o5 + LANES).add(c5b.mul(sb1.mul(s5))).intoArray(c, o5 + LANES);
        FloatVector s6 = FloatVector.broadcast(SPECIES, sa[so + 6]);
        FloatVector.fromArray(SPECIES, c, o6).add(c6a.mul(sb0.mul(s6))).intoArray(c, o6);
        FloatVector.fromArray(SPECIES, c, o6 + LANES).add(c6b.mul(sb1.mul(s6))).intoArray(c, o6 + LANES);
        FloatVector s7 = FloatVector.broadcast(SPECIES, sa[so + 7]);
        FloatVector.fromArray(SPECIES, c, o7).add(c7a.mul(sb0.mul(s7))).intoArray(c, o7);
        FloatVector.fromArray(SPECIES, c, o7 + LANES).add(c7b.mul(sb1.mul(s7))).intoArray(c, o7 + LANES);
        FloatVector s8 = FloatVector.broadcast(SPECIES, sa[so + 8]);
        FloatVector.fromArray(SPECIES, c, o8).add(c8a.mul(sb0.mul(s8))).intoArray(c, o8);
        FloatVector.fromArray(SPECIES, c, o8 + LANES).add(c8b.mul(sb1.mul(s8))).intoArray(c, o8 + LANES);
        FloatVector s9 = FloatVector.broadcast(SPECIES, sa[so + 9]);
        FloatVector.fromArray(SPECIES, c, o9).add(c9a.mul(sb0.mul(s9))).intoArray(c, o9);
        FloatVector.fromArray(SPECIES, c, o9 + LANES).add(c9b.mul(sb1.mul(s9))).intoArray(c, o9 + LANES);
        FloatVector s10 = FloatVector.broadcast(SPECIES, sa[so + 10]);
        FloatVector.fromArray(SPECIES, c, o10).add(c10a.mul(sb0.mul(s10))).intoArray(c, o10);
        FloatVector.fromArray(SPECIES, c, o10 + LANES).add(c10b.mul(sb1.mul(s10))).intoArray(c, o10 + LANES);
        FloatVector s11 = FloatVector.broadcast(SPECIES, sa[so + 11]);
        FloatVector.fromArray(SPECIES, c, o11).add(c11a.mul(sb0.mul(s11))).intoArray(c, o11);
        FloatVector.fromArray(SPECIES, c, o11 + LANES).add(c11b.mul(sb1.mul(s11))).intoArray(c, o11 + LANES);
    }
}
