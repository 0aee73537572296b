package dev.float8j.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Both tile shapes against a scalar sum, whatever the machine's vector width: the gemm tests run only the shape
 * this machine selects (12 rows with 512-bit vectors, else 4), and each kernel works at any width (2 vectors of
 * the preferred species per row).
 */
class MicrokernelTest {
    private static final int NR = 2 * Microkernel.LANES;

    private interface Kernel {
        void accumulate(float[] a, int ao, float[] b, int bo, int len, float[] c, int cOff, int ldc);
    }

    private interface ScaledKernel {
        void accumulate(float[] a, int ao, float[] b, int bo, int len, float[] sa, int so, float[] sb, int sbo,
                float[] c, int cOff, int ldc);
    }

    @Test
    void fourRowKernelSumsLikeAScalarLoop() {
        check(Microkernel4Rows.ROWS, Microkernel4Rows::accumulate, Microkernel4Rows::accumulateScaled);
    }

    @Test
    void twelveRowKernelSumsLikeAScalarLoop() {
        check(Microkernel12Rows.ROWS, Microkernel12Rows::accumulate, Microkernel12Rows::accumulateScaled);
    }

    private static void check(int rows, Kernel plain, ScaledKernel scaled) {
        SplittableRandom random = new SplittableRandom(rows);
        for (int len : new int[] {0, 1, 7, 128, 300}) {
            int ao = 3;
            int bo = 5;
            int so = 2;
            int sbo = 1;
            int ldc = NR + 11;
            int cOff = 2 * ldc + 4;
            float[] a = values(random, ao + len * rows);
            float[] b = values(random, bo + len * NR);
            float[] sa = values(random, so + rows);
            float[] sb = values(random, sbo + NR);
            float[] c = values(random, cOff + rows * ldc);
            float[] plainOut = c.clone();
            float[] scaledOut = c.clone();
            plain.accumulate(a, ao, b, bo, len, plainOut, cOff, ldc);
            scaled.accumulate(a, ao, b, bo, len, sa, so, sb, sbo, scaledOut, cOff, ldc);
            for (int i = 0; i < c.length; i++) {
                int r = (i - cOff) / ldc;
                int col = (i - cOff) % ldc;
                boolean inTile = i >= cOff && r < rows && col < NR;
                if (!inTile) {
                    assertEquals(c[i], plainOut[i], "element " + i + " outside the tile was written");
                    assertEquals(c[i], scaledOut[i], "element " + i + " outside the tile was written (scaled)");
                    continue;
                }
                double sum = 0;
                double absolute = 0;
                for (int k = 0; k < len; k++) {
                    double p = (double) a[ao + k * rows + r] * b[bo + k * NR + col];
                    sum += p;
                    absolute += Math.abs(p);
                }
                // float32 sums of len exact-ish products in any order: within (len + 2) * 2^-24 * sum|terms|
                double bound = (len + 2) * 0x1p-24 * (absolute + Math.abs(c[i]));
                String where = rows + "-row kernel, len " + len + ", row " + r + ", column " + col;
                assertEquals(c[i] + sum, plainOut[i], bound + 1e-30, where);
                float scale = sb[sbo + col] * sa[so + r];
                double scaledBound = bound * Math.abs(scale) + 4 * 0x1p-24 * Math.abs(c[i] + sum * scale);
                assertEquals(c[i] + sum * scale, scaledOut[i], scaledBound + 1e-30, where + " (scaled)");
            }
        }
    }

    private static float[] values(SplittableRandom random, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextDouble(-2, 2));
        }
        return v;
    }
}
