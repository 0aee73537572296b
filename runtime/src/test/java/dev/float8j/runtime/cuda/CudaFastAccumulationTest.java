package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Float8Plan;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.ReferenceBackend;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Fast accumulation on the GPU: a device FP8 gemm with the hint stays within the FP8 gemm tolerance of the reference
 * (Hopper's fast accumulation keeps fewer bits of its partial sums; the reference sums in F32), and block scales,
 * for which cuBLASLt has none, give the same bits as without it. Skips without a GPU.
 */
class CudaFastAccumulationTest {
    private CudaBackend cuda;
    private final ReferenceBackend reference = new ReferenceBackend();

    @BeforeEach
    void needsGpu() {
        cuda = TestGpu.require();
    }

    @Test
    void fastAccumulationStaysCloseToTheReferenceAndBlockScalesIgnoreIt() {
        int m = 256;
        int k = 4096;
        int n = 128;
        Tensor x = GaussianTensors.gaussian(1, 1f, DType.F32, m, k);
        Tensor w = GaussianTensors.gaussian(2, 0.05f, DType.F32, n, k);
        for (Float8Plan plan : List.of(Float8Plan.tensorwise(), Float8Plan.rowwise(), Float8Plan.blockwise())) {
            Tensor expected = reference.gemm(reference.quantize(x, plan.output().first()),
                    reference.quantize(w, plan.output().second()), DType.F32);
            Float8Tensor xq = cuda.quantize(cuda.toDevice(x), plan.output().first());
            Float8Tensor wq = cuda.quantize(cuda.toDevice(w), plan.output().second());
            Tensor fast = cuda.toHost(cuda.gemm(xq, wq, null, DType.F32, null, true));
            Tensor full = cuda.toHost(cuda.gemm(xq, wq, null, DType.F32, null, false));
            double error = MaxRelativeError.of(expected, fast);
            // the full-precision gemm meets 1e-3 (CudaBiasTest); fast accumulation over K = 4096 gets ten times that
            assertTrue(error < 1e-2, plan + ": relative error " + error);
            if (plan.equals(Float8Plan.blockwise())) {
                assertArrayEquals(full.data(), fast.data(), "block scales have no fast accumulation");
            }
        }
    }
}
