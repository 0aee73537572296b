package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.annotations.Backward;
import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.nn.Float8Linear;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The same FP8 layer with its weight and activations on the GPU: results stay there, and match the layer run
 * through the host API (upload, compute, download) on the same GPU.
 */
class DeviceResidentLayerTest {
    private static CudaBackend cuda;
    private Backend previous;

    @BeforeEach
    void needsGpu() {
        cuda = TestGpu.require();
        previous = Backends.current();
        Backends.use(cuda);
    }

    @AfterEach
    void restoreBackend() {
        if (previous != null) {
            Backends.use(previous);
        }
    }

    private static Tensor random(int rows, int cols, long seed) {
        return GaussianTensors.gaussian(seed, 1, DType.F32, rows, cols);
    }

    private static List<Float8Plan> plans() {
        List<Float8Plan> plans = new ArrayList<>();
        for (Backward policy : Backward.values()) {
            plans.add(Float8Plan.tensorwise().withBackward(policy));
            plans.add(Float8Plan.rowwise().withBackward(policy));
            plans.add(Float8Plan.blockwise().withBackward(policy));
        }
        plans.add(Float8Plan.rowwiseGradWeightHighPrecision());
        plans.add(Float8Plan.mx());
        return plans;
    }

    /** A layer with the plan and layer's weight, moved to the GPU. */
    private static Float8Linear sameWeightOnDevice(Float8Linear layer, Float8Plan plan) {
        Float8Linear onDevice = new Float8Linear(layer.inFeatures(), layer.outFeatures(), plan);
        Tensor w = layer.weight().value();
        System.arraycopy(w.data(), 0, onDevice.weight().value().data(), 0, w.size());
        onDevice.moveTo(cuda);
        return onDevice;
    }

    @Test
    void layerOnDeviceTensorsMatchesTheHostApi() {
        int m = 64;
        int k = 256;
        int n = 96;
        long seed = 1;
        for (Float8Plan plan : plans()) {
            Float8Linear onHost = new Float8Linear(k, n, plan);
            Float8Linear onDevice = sameWeightOnDevice(onHost, plan);
            assertTrue(onDevice.weight().value().isOnDevice());
            Tensor x = random(m, k, seed++);
            Tensor dy = random(m, n, seed++);

            Tensor y = onHost.forward(x);
            Tensor dx = onHost.backward(dy);
            Tensor yDevice = onDevice.forward(cuda.toDevice(x));
            Tensor dxDevice = onDevice.backward(cuda.toDevice(dy));
            assertTrue(yDevice.isOnDevice() && dxDevice.isOnDevice(), plan + ": results left the GPU");

            // Both run the same kernels; only the gemms' padding (and so cuBLASLt's algorithm) may differ.
            String what = plan.toString();
            assertTrue(MaxRelativeError.of(y, cuda.toHost(yDevice)) < 1e-5, what + ": y");
            assertTrue(MaxRelativeError.of(dx, cuda.toHost(dxDevice)) < 1e-5, what + ": dX");
            assertTrue(MaxRelativeError.of(onHost.weight().grad(), cuda.toHost(onDevice.weight().grad())) < 1e-5,
                    what + ": dW");
            onDevice.moveToHost();
            assertArrayEquals(onHost.weight().value().data(), onDevice.weight().value().data(), what + ": W");
        }
    }

    /**
     * A device input overwritten between forward and backward (here zeroed with the backend's own kernel) does not
     * change the gradients: high-precision saves are device copies.
     */
    @Test
    void anOverwrittenDeviceInputDoesNotChangeTheGradients() {
        int m = 64;
        int k = 256;
        int n = 96;
        for (Float8Plan plan : plans()) {
            Float8Linear onHost = new Float8Linear(k, n, plan);
            Float8Linear untouched = sameWeightOnDevice(onHost, plan);
            Float8Linear reused = sameWeightOnDevice(onHost, plan);
            Tensor x = random(m, k, 70);
            Tensor dy = cuda.toDevice(random(m, n, 71));
            untouched.forward(cuda.toDevice(x));
            Tensor dxExpected = untouched.backward(dy);
            Tensor buffer = cuda.toDevice(x);
            reused.forward(buffer);
            cuda.zero(buffer);
            Tensor dx = reused.backward(dy);
            String what = plan.toString();
            assertArrayEquals(cuda.toHost(untouched.weight().grad()).data(), cuda.toHost(reused.weight().grad()).data(),
                    what + ": dW");
            assertArrayEquals(cuda.toHost(dxExpected).data(), cuda.toHost(dx).data(), what + ": dX");
        }
    }

    /**
     * BF16 device activations: cuBLASLt writes y and dX in BF16 (its epilogue rounds the F32 result), which must
     * agree with the host API's F32 results on the same values within BF16 rounding (2^-8 relative), and dW
     * stays F32.
     */
    @Test
    void bf16ActivationsStayBf16OnTheDevice() {
        int m = 64;
        int k = 256;
        int n = 96;
        long seed = 40;
        for (Float8Plan plan : plans()) {
            Float8Linear onHost = new Float8Linear(k, n, plan);
            Float8Linear onDevice = sameWeightOnDevice(onHost, plan);
            Tensor x = random(m, k, seed++).to(DType.BF16);
            Tensor dy = random(m, n, seed++).to(DType.BF16);

            Tensor y = onHost.forward(x.to(DType.F32));
            Tensor dx = onHost.backward(dy.to(DType.F32));
            Tensor yDevice = onDevice.forward(cuda.toDevice(x));
            Tensor dxDevice = onDevice.backward(cuda.toDevice(dy));
            String what = plan.toString();
            assertEquals(DType.BF16, yDevice.dtype(), what + ": y");
            assertEquals(DType.BF16, dxDevice.dtype(), what + ": dX");
            assertTrue(MaxRelativeError.of(y, cuda.toHost(yDevice).to(DType.F32)) < 1e-2, what + ": y");
            assertTrue(MaxRelativeError.of(dx, cuda.toHost(dxDevice).to(DType.F32)) < 1e-2, what + ": dX");
            Tensor dw = cuda.toHost(onDevice.weight().grad());
            assertEquals(DType.F32, dw.dtype(), what + ": dW");
            assertTrue(MaxRelativeError.of(onHost.weight().grad(), dw) < 1e-5, what + ": dW");
        }
    }

    @Test
    void gemmAccumulatesIntoADeviceTensor() {
        Tensor a = random(64, 256, 20);
        Tensor b = random(96, 256, 21);
        Tensor c = random(64, 96, 22);
        for (ScalingGranularity g : new ScalingGranularity[] {ScalingGranularity.TENSORWISE,
            ScalingGranularity.ROWWISE, ScalingGranularity.TILE_1X128}) {
            QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, g, 1);
            Float8Tensor qa = cuda.quantize(cuda.toDevice(a), spec);
            Float8Tensor qb = cuda.quantize(cuda.toDevice(b), spec);
            Tensor into = cuda.toDevice(c);
            cuda.gemmAccumulate(into, qa, qb);
            float[] expected = cuda.gemm(cuda.toHost(qa), cuda.toHost(qb)).data().clone();
            for (int i = 0; i < expected.length; i++) {
                expected[i] += c.getFlat(i);
            }
            assertTrue(MaxRelativeError.of(Tensor.of(expected, 64, 96), cuda.toHost(into)) < 1e-5, g + ": into += a b^T");
        }
    }

    @Test
    void aClosedScopeFreesItsStepAtOnce() {
        Float8Linear layer = new Float8Linear(512, 512, Float8Plan.tensorwise().withBackward(Backward.BOTH_AXES));
        layer.moveTo(cuda);
        Tensor x = cuda.toDevice(random(256, 512, 9));
        Tensor dy = cuda.toDevice(random(256, 512, 10));
        long baseline = cuda.allocator().bytesInUse();
        Tensor y;
        try (DeviceScope step = cuda.openScope()) {
            y = layer.forward(x);
            layer.backward(dy);
            assertTrue(cuda.allocator().bytesInUse() > baseline);
        }
        assertEquals(baseline, cuda.allocator().bytesInUse(), "bytes in use after the scope closed");
        IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                () -> cuda.toHost(y));
        assertTrue(e.getMessage().contains("after close"), e.getMessage());
        // the parameters, moved before the scope, are still there
        assertEquals(512 * 512, cuda.toHost(layer.weight().grad()).size());
    }

    @Test
    void droppedDeviceTensorsGoBackToTheAllocator() {
        Float8Linear layer = new Float8Linear(512, 512, Float8Plan.rowwise().withBackward(Backward.BOTH_AXES));
        layer.moveTo(cuda);
        Tensor x = cuda.toDevice(random(256, 512, 7));
        Tensor dy = cuda.toDevice(random(256, 512, 8));
        cuda.synchronize();
        long baseline = SettledMemory.settledBytesInUse(cuda);
        for (int step = 0; step < 20; step++) {
            layer.forward(x);
            layer.backward(dy);
            layer.zeroGrad();
        }
        cuda.synchronize();
        // Nothing is closed by hand: the garbage collector's cleaners return every intermediate.
        assertEquals(baseline, SettledMemory.settledBytesInUse(cuda),
                "bytes in use after dropping every step's tensors");
    }
}
