package dev.float8j.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.backend.ScaledCast;
import dev.float8j.runtime.quant.NonFiniteException;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The CPU backend's cast with a given scale (delayed scaling's cast), vectorized on its threads, against the reference
 * backend's element-by-element loop: the same codes, scale and amax, bit for bit, and the same error for NaN or Inf.
 */
class CpuScaledCastTest {
    private static final CpuBackend CPU = new CpuBackend(2);
    private static final ReferenceBackend REFERENCE = new ReferenceBackend();

    private static Tensor random(long seed, int rows, int cols, DType dtype) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (random.nextGaussian() * (i % 7 == 0 ? 30 : 1));
        }
        Tensor t = Tensor.of(v, rows, cols);
        return dtype == DType.F32 ? t : t.to(dtype);
    }

    @Test
    void codesScaleAndAmaxAreTheReferenceLoopsBitForBit() {
        // below and above the size that splits rows among threads; columns that leave a scalar tail
        int[][] shapes = {{3, 37}, {300, 301}, {64, 1024}};
        for (int[] shape : shapes) {
            for (DType dtype : DType.values()) {
                for (Fp8Format format : Fp8Format.values()) {
                    for (boolean powerOfTwo : new boolean[] {false, true}) {
                        Tensor x = random(shape[0] * 31L + shape[1], shape[0], shape[1], dtype);
                        QuantSpec spec = new QuantSpec(format, ScalingGranularity.TENSORWISE, 1, powerOfTwo);
                        // scales that leave some values beyond fmax (they saturate), and ones that leave none
                        for (float given : new float[] {format.max() / 3f, 1f, format.max() / 300f}) {
                            // a power-of-two spec is handed power-of-two scales (its history rounds them down)
                            float scale = powerOfTwo ? Math.scalb(1f, Math.getExponent(given)) : given;
                            String what = shape[0] + "x" + shape[1] + " " + dtype + " " + format + " scale " + scale;
                            ScaledCast expected = REFERENCE.quantizeWithScale(x, spec, scale);
                            ScaledCast actual = CPU.quantizeWithScale(x, spec, scale);
                            assertArrayEquals(expected.quantized().codes(), actual.quantized().codes(), what);
                            assertArrayEquals(expected.quantized().scales(), actual.quantized().scales(), what);
                            assertEquals(expected.amax(), actual.amax(), what);
                            assertEquals(spec, actual.quantized().spec(), what);
                            CPU.release(actual.quantized());
                        }
                    }
                }
            }
        }
    }

    @Test
    void severalSpecsFromOneReadAreEachSpecsOwnCast() {
        Tensor x = random(9, 300, 301, DType.BF16);
        // a delayed cast along both axes; formats and scales may differ between the copies
        List<QuantSpec> specs = List.of(QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1),
                QuantSpec.of(Fp8Format.E5M2, ScalingGranularity.TENSORWISE, 0));
        float[] scales = {448f / 40f, 57344f / 400f};
        ScaledCast[] expected = REFERENCE.quantizeWithScales(x, specs, scales);
        ScaledCast[] actual = CPU.quantizeWithScales(x, specs, scales);
        for (int i = 0; i < 2; i++) {
            assertArrayEquals(expected[i].quantized().codes(), actual[i].quantized().codes(), "copy " + i);
            assertEquals(specs.get(i), actual[i].quantized().spec());
            assertEquals(scales[i], actual[i].quantized().scales()[0]);
            assertEquals(expected[i].amax(), actual[i].amax(), "copy " + i);
        }
        assertThrows(IllegalArgumentException.class, () -> CPU.quantizeWithScales(x, specs, new float[] {1f}));
    }

    @Test
    void aNonFiniteValueIsNamedAsTheReferenceNamesItAndItsCodesGoBackToThePool() {
        QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1);
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            for (int[] at : new int[][] {{250, 17}, {2, 300}}) {  // a vector lane, the scalar tail
                Tensor x = random(5, 300, 301, DType.F32);
                x.set(at[0], at[1], bad);
                x.set(280, 5, bad);  // a later one in another part: the first in row order is named
                NonFiniteException expected = assertThrows(NonFiniteException.class,
                        () -> REFERENCE.quantizeWithScale(x, spec, 1f));
                NonFiniteException actual = assertThrows(NonFiniteException.class, () -> CPU.quantizeWithScale(x, spec, 1f));
                assertEquals(expected.getMessage(), actual.getMessage());
            }
        }
        CpuBackend fresh = new CpuBackend(2);
        Tensor x = random(6, 300, 301, DType.F32);
        x.set(0, 0, Float.NaN);
        assertThrows(NonFiniteException.class,
                () -> fresh.quantizeWithScales(x, List.of(spec, spec.withAxis(0)), new float[] {1f, 1f}));
        assertEquals(2, fresh.pool().heldArrays(), "the codes of a failed cast are kept for reuse");
        assertEquals(2 * 300 * 301, fresh.pool().heldBytes());
    }

    @Test
    void onlyATensorwiseSpecAndAPositiveFiniteScaleAreTaken() {
        Tensor x = random(7, 4, 8, DType.F32);
        assertThrows(IllegalArgumentException.class,
                () -> CPU.quantizeWithScale(x, QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 1), 1f));
        for (float scale : new float[] {0f, -1f, Float.NaN, Float.POSITIVE_INFINITY}) {
            assertThrows(IllegalArgumentException.class,
                    () -> CPU.quantizeWithScale(x, QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1), scale));
        }
    }
}
