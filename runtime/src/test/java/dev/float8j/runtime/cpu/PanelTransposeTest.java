package dev.float8j.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The 16 x 16 transposes against a scalar transpose, whatever the machine's vector width (the gemm tests use them
 * only where vectors are 16 floats): every panel width the gemm packs (12 and multiples of 16), depths with and
 * without a tail past the last 16, and nothing written outside the panel (the 12-row stores are masked).
 */
class PanelTransposeTest {
    @Test
    void packsLikeAScalarTranspose() {
        SplittableRandom random = new SplittableRandom(16);
        for (int width : new int[] {12, 16, 32}) {
            for (int kc : new int[] {0, 5, 16, 47, 256}) {
                for (int stride : new int[] {kc + 3, 2048}) {
                    int srcOff = 7;
                    int dstOff = 9;
                    float[] src = new float[srcOff + width * stride + kc];
                    for (int i = 0; i < src.length; i++) {
                        src[i] = (float) random.nextGaussian();
                    }
                    float[] dst = new float[dstOff + kc * width + 20];
                    java.util.Arrays.fill(dst, -1f);
                    PanelTranspose.pack(src, srcOff, stride, width, kc, dst, dstOff);
                    for (int i = 0; i < dst.length; i++) {
                        int f = i - dstOff;
                        float expected = f >= 0 && f < kc * width ? src[srcOff + (f % width) * stride + f / width] : -1f;
                        assertEquals(expected, dst[i], "width " + width + ", kc " + kc + ", stride " + stride
                                + ", float " + f);
                    }
                }
            }
        }
    }
}
