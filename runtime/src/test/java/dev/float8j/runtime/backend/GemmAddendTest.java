package dev.float8j.runtime.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.cpu.CpuBackend;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A gemm's addend on the host backends: added to the F32 sum before the one rounding to the output's dtype.
 * Every product here is exact, so the expected values are written out: each row of A is (1, 2⁻⁹, 0, ...) and each row
 * of B is (1, 1, 0, ...), so every sum is 1 + 2⁻⁹; the addend is 2⁻⁸. Rounded once, 1 + 3·2⁻⁹ lies above BF16's
 * midpoint between 1 and 1 + 2⁻⁷ and gives 1 + 2⁻⁷; rounded twice it gives round(1) + 2⁻⁸, the midpoint, which
 * rounds to even: 1.
 */
public class GemmAddendTest {
    static final int ROWS = 16;
    /** The summed length; CudaGemmAddendTest's device gemms use it for every dimension. */
    public static final int DEPTH = 16;
    static final int COLS = 16;
    static final float SUM = 1 + 0x1p-9f;
    static final float ADDEND = 0x1p-8f;
    static final float ROUNDED_ONCE = 1 + 0x1p-7f;

    static List<Backend> backends() {
        return List.of(new ReferenceBackend(), new CpuBackend(2));
    }

    /** rows x DEPTH, each row (first, second, 0, ...). */
    public static Tensor rowsOf(int rows, float first, float second, DType dtype) {
        float[] v = new float[rows * DEPTH];
        for (int r = 0; r < rows; r++) {
            v[r * DEPTH] = first;
            v[r * DEPTH + 1] = second;
        }
        return Tensor.of(v, rows, DEPTH).to(dtype);
    }

    /** rows x cols, every element value. */
    public static Tensor filled(float value, DType dtype, int rows, int cols) {
        float[] v = new float[rows * cols];
        java.util.Arrays.fill(v, value);
        return Tensor.of(v, rows, cols).to(dtype);
    }

    static void assertAll(float expected, Tensor t, String what) {
        assertEquals(ROWS, t.rows(), what);
        assertEquals(COLS, t.cols(), what);
        for (int i = 0; i < t.size(); i++) {
            assertEquals(expected, t.getFlat(i), what + " at " + i);
        }
    }

    @Test
    void matmulRoundsTheSumPlusAddendOnce() {
        for (Backend backend : backends()) {
            for (DType in : DType.values()) {
                Tensor a = rowsOf(ROWS, 1, 0x1p-9f, in);
                Tensor b = rowsOf(COLS, 1, 1, in);
                Tensor y = backend.matmul(a, 1, b, 1, null, DType.BF16, filled(ADDEND, DType.BF16, ROWS, COLS));
                assertEquals(DType.BF16, y.dtype());
                assertAll(ROUNDED_ONCE, y, backend.name() + " " + in + " in, BF16 out");
                Tensor f32 = backend.matmul(a, 1, b, 1, null, DType.F32, filled(ADDEND, DType.F32, ROWS, COLS));
                assertAll(SUM + ADDEND, f32, backend.name() + " " + in + " in, F32 out");
            }
        }
    }

    @Test
    void fp8GemmRoundsTheSumPlusBiasPlusAddendOnce() {
        for (Backend backend : backends()) {
            for (ScalingGranularity g : List.of(ScalingGranularity.TENSORWISE, ScalingGranularity.ROWWISE)) {
                // power-of-two scales (256 here), so that the codes and the scaled sum are exact too
                QuantSpec spec = new QuantSpec(Fp8Format.E4M3FN, g, 1, true);
                var a = backend.quantize(rowsOf(ROWS, 1, 0x1p-9f, DType.F32), spec);
                var b = backend.quantize(rowsOf(COLS, 1, 1, DType.F32), spec);
                Tensor y = backend.gemm(a, b, null, DType.BF16, filled(ADDEND, DType.BF16, ROWS, COLS));
                assertAll(ROUNDED_ONCE, y, backend.name() + " " + g);
                // a bias of -1 and an addend of 1: each cancels exactly in F32, so the sum comes back as it was
                Tensor bias = filled(-1, DType.F32, 1, COLS);
                Tensor back = backend.gemm(a, b, bias, DType.F32, filled(1, DType.F32, ROWS, COLS));
                assertAll(SUM, back, backend.name() + " " + g + " with bias");
            }
        }
    }

    @Test
    void anAddendOfAnotherShapeOrDtypeIsRefused() {
        for (Backend backend : backends()) {
            Tensor a = rowsOf(ROWS, 1, 0x1p-9f, DType.F32);
            Tensor b = rowsOf(COLS, 1, 1, DType.F32);
            IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                    () -> backend.matmul(a, 1, b, 1, null, DType.F32, filled(1, DType.F32, 1, COLS)));
            assertEquals("the addend of a gemm whose result is 16x16 F32 must have that shape and dtype, got "
                    + filled(1, DType.F32, 1, COLS), shape.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> backend.matmul(a, 1, b, 1, null, DType.F32, filled(1, DType.BF16, ROWS, COLS)));
            QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1);
            assertThrows(IllegalArgumentException.class, () -> backend.gemm(backend.quantize(a, spec),
                    backend.quantize(b, spec), null, DType.BF16, filled(1, DType.BF16, ROWS, COLS + 16)));
        }
    }
}
