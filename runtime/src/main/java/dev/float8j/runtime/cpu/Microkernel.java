package dev.float8j.runtime.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register-blocked inner kernel: an {@link #MR} x {@link #NR} tile of C held in vector accumulators
 * (MR rows x 2 vectors), updated by broadcasting one packed A element per row and multiplying it into two
 * packed B vectors with FMA. The tile's height follows the register file the vector width implies: 16-float
 * vectors mean AVX-512 and its 32 registers, where {@link Microkernel12Rows} keeps 24 accumulators; narrower
 * vectors get {@link Microkernel4Rows}, which fits AVX2's 16 registers.
 *
 * <p>K is walked in segments: each segment is summed from zero in registers, then added to C, scaled
 * by {@code (1/sa) * (1/sb)} when the operands carry block scales (DeepSeek-style promotion).
 */
final class Microkernel {
    static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    static final int LANES = SPECIES.length();
    /** True where the vectors are 512 bits wide, hence (on x86, AVX-512) 32 vector registers. */
    private static final boolean TALL = LANES >= 16;
    static final int MR = TALL ? Microkernel12Rows.ROWS : Microkernel4Rows.ROWS;
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
            if (sa == null) {
                if (TALL) {
                    Microkernel12Rows.accumulate(a, ao, b, bo, len, c, cOff, ldc);
                } else {
                    Microkernel4Rows.accumulate(a, ao, b, bo, len, c, cOff, ldc);
                }
            } else if (TALL) {
                Microkernel12Rows.accumulateScaled(a, ao, b, bo, len, sa, saOff + s * MR, sb, sbOff + s * NR, c, cOff,
                        ldc);
            } else {
                Microkernel4Rows.accumulateScaled(a, ao, b, bo, len, sa, saOff + s * MR, sb, sbOff + s * NR, c, cOff,
                        ldc);
            }
        }
    }
}
