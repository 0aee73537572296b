package dev.float8j.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.cpu.CpuBackend;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.quant.QuantSpecs;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Inputs up to Float.MAX_VALUE are finite, so every granularity treats them alike: at worst the largest values
 * saturate to the largest finite value the block's scale can express (docs/formats.md, "Scales"); nothing
 * dequantizes to Inf and no gemm turns them into NaN.
 */
class FloatMaxInputsTest {
    private static final float MAX = Float.MAX_VALUE;

    @Test
    void dequantizedValuesStayFiniteAndWithinOneBinadeOfTheInput() {
        for (Backend backend : List.<Backend>of(new ReferenceBackend(), new CpuBackend())) {
            for (QuantSpec spec : QuantSpecs.all()) {
                float[] x = new float[2 * 64];
                x[0] = MAX;
                x[1] = -MAX;
                x[2] = MAX / 2;
                x[65] = 1f;
                Tensor input = Tensor.of(x, 2, 64);
                Float8Tensor q = backend.quantize(input, spec);
                org.junit.jupiter.api.Assertions.assertArrayEquals(QuantReference.scales(QuantReference.matrix(input), spec),
                        q.scales(), backend.name() + " " + spec + ": scales");
                Tensor y = backend.dequantize(q);
                for (int i : new int[] {0, 1, 2}) {
                    float v = y.getFlat(i);
                    String what = backend.name() + " " + spec + ": " + x[i] + " dequantized to " + v;
                    assertTrue(Float.isFinite(v) && Math.signum(v) == Math.signum(x[i]), what);
                    // saturation costs at most the 12.5% between 448 (or 57344) and the next power of two
                    assertTrue(Math.abs(v) >= Math.abs(x[i]) * 0.87 && Math.abs(v) <= Math.abs(x[i]) * 1.07, what);
                }
            }
        }
    }

    @Test
    void aGemmOfFloatMaxAgainstZerosIsZeroNotNaN() {
        for (Backend backend : List.<Backend>of(new ReferenceBackend(), new CpuBackend())) {
            for (QuantSpec spec : QuantSpecs.all()) {
                if (spec.axis() != 1) {
                    continue;
                }
                float[] x = new float[64];
                x[0] = MAX;
                x[1] = 1f;
                float[] w = new float[2 * 64];
                w[1] = 1f;  // row 0 skips x[0]: F32 gives MAX * 0 + 1 * 1 = 1
                w[64] = 0.5f; // row 1 takes half of it: F32 gives MAX / 2
                Tensor c = backend.gemm(backend.quantize(Tensor.of(x, 1, 64), spec),
                        backend.quantize(Tensor.of(w, 2, 64), spec));
                String what = backend.name() + " " + spec + ": " + c.getFlat(0) + ", " + c.getFlat(1);
                // 1 shares its block with MAX, whose scale is too small to keep it: it may round to 0, never NaN
                assertTrue(c.getFlat(0) == 0f || Math.abs(c.getFlat(0) - 1f) <= 0.125f, what);
                assertEquals(MAX / 2, c.getFlat(1), MAX / 2 * 0.13, what);
            }
        }
    }
}
