package dev.float8j.runtime.cuda;

import static dev.float8j.runtime.backend.GemmAddendTest.filled;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.GemmAddendTest;
import dev.float8j.runtime.backend.ReferenceBackend;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A gemm's addend on the GPU: cuBLASLt's C (beta = 1) for FP8 gemms and BF16 matmuls, the epilogue_add kernel after
 * an F32 matmul rounded to BF16. Each rounds the F32 sum plus the addend once: every product here is exact, each row of
 * A is (1, 2⁻⁹, 0, ...), each row of B (1, 1, 0, ...) and the addend 2⁻⁸, so one rounding gives 1 + 2⁻⁷ and two would
 * give 1. Random operands with a bias against the reference backend, and a wrong addend refused. Skips without a GPU.
 */
class CudaGemmAddendTest {
    static final int N = GemmAddendTest.DEPTH;
    static final float ROUNDED_ONCE = 1 + 0x1p-7f;
    private CudaBackend cuda;
    private final ReferenceBackend reference = new ReferenceBackend();

    @BeforeEach
    void needsGpu() {
        cuda = TestGpu.require();
    }

    /** N x N, each row (first, second, 0, ...). */
    static Tensor rowsOf(float first, float second, DType dtype) {
        return GemmAddendTest.rowsOf(N, first, second, dtype);
    }

    private void assertAll(float expected, Tensor onDevice, String what) {
        assertTrue(onDevice.isOnDevice(), what + ": the result stays on the GPU");
        Tensor t = cuda.toHost(onDevice);
        for (int i = 0; i < t.size(); i++) {
            assertEquals(expected, t.getFlat(i), what + " at " + i);
        }
    }

    @Test
    void fp8GemmAddsTheAddendBeforeItsOneRounding() {
        for (ScalingGranularity g : List.of(ScalingGranularity.TENSORWISE, ScalingGranularity.ROWWISE)) {
            QuantSpec spec = new QuantSpec(Fp8Format.E4M3FN, g, 1, true);
            Float8Tensor a = cuda.quantize(cuda.toDevice(rowsOf(1, 0x1p-9f, DType.F32)), spec);
            Float8Tensor b = cuda.quantize(cuda.toDevice(rowsOf(1, 1, DType.F32)), spec);
            Tensor addend = cuda.toDevice(filled(0x1p-8f, DType.BF16, N, N));
            assertAll(ROUNDED_ONCE, cuda.gemm(a, b, null, DType.BF16, addend), g + " BF16");
            Tensor bias = cuda.toDevice(filled(-1, DType.F32, 1, N));
            assertAll(1 + 0x1p-9f, cuda.gemm(a, b, bias, DType.F32, cuda.toDevice(filled(1, DType.F32, N, N))),
                    g + " F32 with bias");
        }
    }

    @Test
    void matmulAddsTheAddendBeforeItsOneRoundingFromEitherInputDtype() {
        for (DType in : DType.values()) {
            Tensor a = cuda.toDevice(rowsOf(1, 0x1p-9f, in));
            Tensor b = cuda.toDevice(rowsOf(1, 1, in));
            // F32 operands give an F32 product that epilogue_add rounds; BF16 ones go through cuBLASLt's C
            assertAll(ROUNDED_ONCE, cuda.matmul(a, 1, b, 1, null, DType.BF16,
                    cuda.toDevice(filled(0x1p-8f, DType.BF16, N, N))), in + " in");
        }
    }

    @Test
    void randomOperandsWithBiasAndAddendMatchTheReference() {
        int m = 64;
        int k = 256;
        int n = 48;
        Tensor x = GaussianTensors.gaussian(1, 1f, DType.F32, m, k);
        Tensor w = GaussianTensors.gaussian(2, 0.05f, DType.F32, n, k);
        Tensor bias = GaussianTensors.gaussian(3, 1f, DType.F32, 1, n);
        for (DType out : DType.values()) {
            // an addend large against x·Wᵀ, so that a missing or misplaced one cannot hide in the tolerance
            Tensor addend = GaussianTensors.gaussian(4, 4f, DType.F32, m, n).to(out);
            for (Float8Plan plan : List.of(Float8Plan.tensorwise(), Float8Plan.rowwise(), Float8Plan.blockwise())) {
                Tensor expected = reference.gemm(reference.quantize(x, plan.output().first()),
                        reference.quantize(w, plan.output().second()), bias, out, addend);
                Tensor actual = cuda.toHost(cuda.gemm(cuda.quantize(cuda.toDevice(x), plan.output().first()),
                        cuda.quantize(cuda.toDevice(w), plan.output().second()), cuda.toDevice(bias), out,
                        cuda.toDevice(addend)));
                double error = MaxRelativeError.of(expected, actual);
                assertTrue(error < (out == DType.F32 ? 1e-3 : 8e-3), plan + " " + out + ": relative error " + error);
            }
            Tensor expected = reference.matmul(x.to(DType.BF16), 1, w.to(DType.BF16), 1, bias, out, addend);
            Tensor actual = cuda.toHost(cuda.matmul(cuda.toDevice(x.to(DType.BF16)), 1, cuda.toDevice(w.to(DType.BF16)),
                    1, cuda.toDevice(bias), out, cuda.toDevice(addend)));
            double error = MaxRelativeError.of(expected, actual);
            assertTrue(error < (out == DType.F32 ? 1e-5 : 8e-3), "BF16 matmul " + out + ": relative error " + error);
        }
    }

    @Test
    void anAddendOfAnotherShapeOrDtypeIsRefused() {
        QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1);
        Float8Tensor a = cuda.quantize(cuda.toDevice(rowsOf(1, 0x1p-9f, DType.F32)), spec);
        Float8Tensor b = cuda.quantize(cuda.toDevice(rowsOf(1, 1, DType.F32)), spec);
        assertThrows(IllegalArgumentException.class,
                () -> cuda.gemm(a, b, null, DType.BF16, cuda.toDevice(filled(1, DType.BF16, N, 2 * N))));
        assertThrows(IllegalArgumentException.class,
                () -> cuda.gemm(a, b, null, DType.BF16, cuda.toDevice(filled(1, DType.F32, N, N))));
        assertThrows(IllegalArgumentException.class, () -> cuda.matmul(cuda.toDevice(rowsOf(1, 1, DType.BF16)), 1,
                cuda.toDevice(rowsOf(1, 1, DType.BF16)), 1, null, DType.BF16, cuda.toDevice(filled(1, DType.BF16, 1, N))));
    }
}
