package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Float8Plan;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The bias on the GPU: added by cuBLASLt's BIAS epilogue (or the epilogue_add kernel where cuBLASLt takes no F32 bias)
 * to FP8 and high-precision gemms of device tensors, F32 and BF16 out, against the reference backend; grad_bias by
 * the column_sums kernel, bit-equal to the host's sums; a layer with a bias living on the GPU against the reference.
 * Skips without a GPU.
 */
class CudaBiasTest {
    static final int M = 32;
    static final int K = 256;
    static final int N = 48;
    private static CudaBackend cuda;
    private final ReferenceBackend reference = new ReferenceBackend();
    private Backend previous;

    @BeforeEach
    void needsGpu() {
        cuda = TestGpu.require();
        previous = Backends.current();
    }

    @AfterEach
    void restoreBackend() {
        if (previous != null) {
            Backends.use(previous);
        }
    }

    private static Tensor random(long seed, float std, int rows, int cols) {
        return GaussianTensors.gaussian(seed, std, DType.F32, rows, cols);
    }

    @Test
    void fp8GemmAddsTheBiasOnDeviceOperandsForEveryPlanAndOutputType() {
        Tensor x = random(1, 1f, M, K);
        Tensor w = random(2, 0.05f, N, K);
        // a bias large against y, so that a missing or misplaced bias cannot hide in the tolerance
        Tensor bias = random(3, 4f, 1, N);
        for (Float8Plan plan : List.of(Float8Plan.tensorwise(), Float8Plan.rowwise(), Float8Plan.blockwise())) {
            Float8Tensor xq = reference.quantize(x, plan.output().first());
            Float8Tensor wq = reference.quantize(w, plan.output().second());
            for (DType out : DType.values()) {
                Tensor expected = reference.gemm(xq, wq, bias, out);
                Tensor onDevice = cuda.gemm(cuda.quantize(cuda.toDevice(x), plan.output().first()),
                        cuda.quantize(cuda.toDevice(w), plan.output().second()), cuda.toDevice(bias), out);
                assertTrue(onDevice.isOnDevice(), "the result stays on the GPU");
                Tensor actual = cuda.toHost(onDevice);
                assertEquals(out, actual.dtype());
                double error = MaxRelativeError.of(expected, actual);
                // Hopper's FP8 tensor cores keep fewer mantissa bits in their partial sums than the reference's
                // F32 (CudaBackendTest measured 2.5e-4), so F32 output gets CudaBackendTest's FP8 gemm tolerance;
                // a missing or misplaced bias of this size is an error near 1
                assertTrue(error < (out == DType.F32 ? 1e-3 : 8e-3), plan + " " + out + ": relative error " + error);
            }
        }
    }

    @Test
    void highPrecisionMatmulAddsTheBiasOnDeviceOperands() {
        Tensor x = random(4, 1f, M, K);
        Tensor w = random(5, 0.05f, N, K);
        Tensor bias = random(6, 4f, 1, N);
        for (DType in : DType.values()) {
            for (DType out : DType.values()) {
                Tensor xs = x.to(in);
                Tensor ws = w.to(in);
                Tensor expected = reference.matmul(xs, 1, ws, 1, bias, out);
                Tensor actual = cuda.toHost(cuda.matmul(cuda.toDevice(xs), 1, cuda.toDevice(ws), 1, cuda.toDevice(bias), out));
                double error = MaxRelativeError.of(expected, actual);
                assertTrue(error < (out == DType.F32 ? 1e-5 : 8e-3),
                        in + " -> " + out + ": relative error " + error);
            }
        }
    }

    @Test
    void columnSumsOnTheGpuEqualTheHostsBitForBit() {
        for (DType dtype : DType.values()) {
            Tensor g = random(7, 0.01f, 300, 37).to(dtype);
            Tensor host = reference.columnSums(g);
            Tensor onDevice = cuda.columnSums(cuda.toDevice(g));
            assertTrue(onDevice.isOnDevice());
            assertArrayEquals(host.data(), cuda.toHost(onDevice).data(), dtype.toString());
        }
    }

    @Test
    void aLayerWithBiasOnTheGpuMatchesTheReference() {
        Tensor x = random(8, 1f, M, K);
        Tensor dy = random(9, 0.01f, M, N);
        for (Float8Plan plan : List.of(Float8Plan.highPrecision(), Float8Plan.rowwise(), Float8Plan.blockwise())) {
            Backends.use(reference);
            Init.seed(3);
            Linear onHost = new Float8Linear(K, N, plan, true);
            Tensor yHost = onHost.forward(x);
            onHost.backward(dy);

            Backends.use(cuda);
            Init.seed(3);
            Linear onGpu = new Float8Linear(K, N, plan, true);
            onGpu.moveTo(cuda);
            Tensor yGpu = cuda.toHost(onGpu.forward(cuda.toDevice(x)));
            onGpu.backward(cuda.toDevice(dy));
            assertTrue(MaxRelativeError.of(yHost, yGpu) < 2e-3, plan + " y");
            onGpu.moveToHost();
            assertArrayEquals(onHost.bias().grad().data(), onGpu.bias().grad().data(), 1e-6f, plan + " grad_bias");
        }
    }
}
