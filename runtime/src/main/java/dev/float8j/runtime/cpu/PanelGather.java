package dev.float8j.runtime.cpu;

import static dev.float8j.runtime.cpu.Microkernel.LANES;
import static dev.float8j.runtime.cpu.Microkernel.MR;
import static dev.float8j.runtime.cpu.Microkernel.NR;
import static dev.float8j.runtime.cpu.Microkernel.SPECIES;

import jdk.incubator.vector.FloatVector;

/**
 * Packs the rows of a K-contiguous operand into a k-major panel (panel[k * width + w] = row w's k-th float) in two
 * steps: the caller writes the panel's rows into this thread's {@link #rows()} block, {@link #STRIDE} floats apart
 * (a copy, or a vector decode of FP8 codes), then {@link #pack} fills the panel contiguously with vector gathers,
 * each lane reading its (w, k) from that block. The scalar transpose did one load and one strided store per float.
 * The gathers pack where vectors are narrower than 16 floats; at 16, {@link PanelTranspose} does (a 16-lane gather
 * costs about 24 cycles on the Ice Lake VM), and the block only holds decoded FP8 rows.
 *
 * <p>Why the copy: gathering straight from the operand read its rows at their own stride, a power of two at the
 * usual sizes (8 KiB at K = 2048), so a gather's 16 lines shared one L1 set and were evicted before the next k
 * used them. The block's stride is one cache line more than a packed K block, so its rows fall in different sets.
 */
final class PanelGather {
    /** Floats between rows of the block: a K block plus one cache line. */
    static final int STRIDE = GemmEngine.KC + 16;
    private static final ThreadLocal<float[]> ROWS = ThreadLocal.withInitial(() -> new float[NR * STRIDE]);
    private static final int[] MAP_A = map(MR);
    private static final int[] MAP_B = map(NR);

    private PanelGather() {
    }

    /** This thread's block for up to NR rows of one K block, row w at [w * STRIDE]. */
    static float[] rows() {
        return ROWS.get();
    }

    /**
     * The index map for width rows: entry f is the block offset of panel float f. The lanes' (w, k) pattern repeats
     * every lcm(width, LANES) floats, so one map serves every repetition, shifted along K.
     */
    private static int[] map(int width) {
        int floats = width / gcd(width, LANES) * LANES;
        int[] map = new int[floats];
        for (int f = 0; f < floats; f++) {
            map[f] = (f % width) * STRIDE + f / width;
        }
        return map;
    }

    /** Packs kc steps of K of width (MR or NR) rows from the block {@link #rows()} returned into dst[dstOff ..]. */
    static void pack(float[] rows, int width, int kc, float[] dst, int dstOff) {
        int[] map = width == MR ? MAP_A : MAP_B;
        int floats = map.length;
        int kStep = floats / width;
        int kVector = kc - kc % kStep;
        for (int k = 0; k < kVector; k += kStep) {
            int d = dstOff + k * width;
            for (int g = 0; g < floats; g += LANES) {
                FloatVector.fromArray(SPECIES, rows, k, map, g).intoArray(dst, d + g);
            }
        }
        for (int k = kVector; k < kc; k++) {
            for (int w = 0; w < width; w++) {
                dst[dstOff + k * width + w] = rows[w * STRIDE + k];
            }
        }
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }
}
