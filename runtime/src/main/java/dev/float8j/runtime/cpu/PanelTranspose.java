package dev.float8j.runtime.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Packs the rows of a K-contiguous operand into a k-major panel (panel[k * width + w] = row w's k-th float) with
 * 16 x 16 transposes, for 16-float vectors: 16 rows x 16 k are loaded as 16 vectors, transposed in four butterfly
 * stages of two-vector permutes ({@code selectFrom(v1, v2)}, one {@code vpermi2ps} each), and stored as 16 vectors,
 * one per k. Per 256 floats that is 64 permutes and, with the middle stages kept in a 1 KiB block in L1, 64 vector
 * loads and 64 stores, where {@link PanelGather} needs 16 gathers: on the Ice Lake VM a 16-lane gather costs about 24
 * cycles (the microcode that mitigates Gather Data Sampling makes gathers several times slower than they were), so
 * the gathers alone took about 1.5 cycles per float.
 *
 * <p>Why the block and the loops: the same transpose written out with its 32 vectors in locals (1,300 bytes of
 * bytecode) was too large for C1 ("out of virtual registers") and for C2 to inline, so it often ran for seconds in
 * C1's tier-2 code, whose vectors are heap objects, at half the gemm's speed. The loop form (448 bytes) compiles
 * at every tier.
 *
 * <p>Each row vector is read once and whole, so the rows can come straight from the operand even where its row
 * stride is a power of two (every row's line in one L1 set): no line is needed again after its one load.
 * A 12-row panel is transposed as 16 rows of which the last 4 are zero, and stored with a 12-lane mask.
 */
final class PanelTranspose {
    /** True where the gemm's vectors are 16 floats, the only width this class packs for (else {@link PanelGather}). */
    static final boolean APPLIES = Microkernel.LANES == 16;
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_512;
    /** Index vectors of the butterfly stage that swaps bit b of the row with bit b of the lane, b = 1, 2, 4, 8. */
    private static final float[][] LOW = new float[9][];
    private static final float[][] HIGH = new float[9][];
    private static final ThreadLocal<float[]> BLOCK = ThreadLocal.withInitial(() -> new float[16 * 16]);

    static {
        for (int b = 1; b <= 8; b <<= 1) {
            LOW[b] = new float[16];
            HIGH[b] = new float[16];
            for (int l = 0; l < 16; l++) {
                // Row r with bit b clear takes lane l from the pair (v[r], v[r | b]): its own lane where l has bit b
                // clear, else lane l - b of the partner. Row r | b takes lane l + b of v[r] or its own lane l.
                LOW[b][l] = (l & b) == 0 ? l : 16 + l - b;
                HIGH[b][l] = (l & b) == 0 ? l + b : 16 + l;
            }
        }
    }

    private PanelTranspose() {
    }

    /**
     * Packs kc steps of K of width rows (16 x n, or 12) into dst[dstOff ..]: row w's k-th float is src[srcOff + w *
     * stride + k]. The last kc % 16 steps go element by element.
     */
    static void pack(float[] src, int srcOff, int stride, int width, int kc, float[] dst, int dstOff) {
        float[] block = BLOCK.get();
        int kVector = kc - kc % 16;
        if (width == 12) {
            for (int k = 0; k < kVector; k += 16) {
                transpose(src, srcOff + k, stride, 12, block, dst, dstOff + k * 12, 12);
            }
        } else {
            // each group of 16 rows is read to the end of kc before the next group: 16 streams at a time for the
            // prefetcher rather than all width rows (packing B at 2048³, one thread: 7.8-8.2 ms a gemm, was 9.2-9.6)
            for (int w = 0; w < width; w += 16) {
                for (int k = 0; k < kVector; k += 16) {
                    transpose(src, srcOff + w * stride + k, stride, 16, block, dst, dstOff + k * width + w, width);
                }
            }
        }
        for (int k = kVector; k < kc; k++) {
            for (int w = 0; w < width; w++) {
                dst[dstOff + k * width + w] = src[srcOff + w * stride + k];
            }
        }
    }

    /**
     * dst[d + k * ld + r] = src[s + r * stride + k] for k < 16 and r < rows (12 or 16: with 12, rows 12..15 are
     * zero and only 12 lanes of each k are stored). The first stage reads the rows, the last writes dst, the middle
     * two work in place in block (16 x 16 floats, in L1).
     */
    private static void transpose(float[] src, int s, int stride, int rows, float[] block, float[] dst, int d,
            int ld) {
        FloatVector zero = FloatVector.zero(SPECIES);
        FloatVector low = FloatVector.fromArray(SPECIES, LOW[1], 0);
        FloatVector high = FloatVector.fromArray(SPECIES, HIGH[1], 0);
        for (int r = 0; r < 16; r += 2) {
            FloatVector x = r < rows ? FloatVector.fromArray(SPECIES, src, s + r * stride) : zero;
            FloatVector y = r + 1 < rows ? FloatVector.fromArray(SPECIES, src, s + (r + 1) * stride) : zero;
            low.selectFrom(x, y).intoArray(block, r * 16);
            high.selectFrom(x, y).intoArray(block, (r + 1) * 16);
        }
        for (int b = 2; b <= 4; b <<= 1) {
            low = FloatVector.fromArray(SPECIES, LOW[b], 0);
            high = FloatVector.fromArray(SPECIES, HIGH[b], 0);
            for (int r = 0; r < 16; r++) {
                if ((r & b) == 0) {
                    FloatVector x = FloatVector.fromArray(SPECIES, block, r * 16);
                    FloatVector y = FloatVector.fromArray(SPECIES, block, (r | b) * 16);
                    low.selectFrom(x, y).intoArray(block, r * 16);
                    high.selectFrom(x, y).intoArray(block, (r | b) * 16);
                }
            }
        }
        low = FloatVector.fromArray(SPECIES, LOW[8], 0);
        high = FloatVector.fromArray(SPECIES, HIGH[8], 0);
        VectorMask<Float> mask = VectorMask.fromLong(SPECIES, rows == 16 ? 0xFFFF : 0xFFF);
        for (int r = 0; r < 8; r++) {
            FloatVector x = FloatVector.fromArray(SPECIES, block, r * 16);
            FloatVector y = FloatVector.fromArray(SPECIES, block, (r + 8) * 16);
            low.selectFrom(x, y).intoArray(dst, d + r * ld, mask);
            high.selectFrom(x, y).intoArray(dst, d + (r + 8) * ld, mask);
        }
    }
}
