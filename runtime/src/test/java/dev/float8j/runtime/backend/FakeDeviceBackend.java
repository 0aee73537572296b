package dev.float8j.runtime.backend;

import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.DeviceData;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import java.util.Arrays;

/**
 * A stand-in for a backend with its own memory, for tests of code that keeps tensors on a device, without a GPU: its
 * "device" tensors hold F32 arrays that only this class reads or writes, as the CUDA backend's hold device memory, so
 * every access must go through the backend. It moves, zeroes, overwrites and accumulates tensors; a test that needs
 * more overrides it.
 */
public class FakeDeviceBackend implements Backend {
    /** Device memory of the stand-in: an array only the backend reads or writes. */
    private record FakeMemory(float[] values) implements DeviceData {
        @Override
        public String device() {
            return "fake device";
        }
    }

    @Override
    public String name() {
        return "fake";
    }

    /** The array behind a device tensor of this backend. */
    protected static float[] memory(Tensor t) {
        return ((FakeMemory) t.deviceData()).values();
    }

    @Override
    public Tensor toDevice(Tensor t) {
        return t.isOnDevice() ? t : Tensor.onDevice(new FakeMemory(t.toFloatArray()), DType.F32, t.shape());
    }

    @Override
    public Tensor toHost(Tensor t) {
        return t.isOnDevice() ? Tensor.of(memory(t).clone(), t.shape()) : t;
    }

    @Override
    public void zero(Tensor t) {
        Arrays.fill(memory(t), 0f);
    }

    @Override
    public void copyFromHost(Tensor into, Tensor source) {
        Backend.checkCopyFromHost(into, source);
        System.arraycopy(source.data(), 0, memory(into), 0, into.size());
    }

    @Override
    public void accumulate(Tensor into, Tensor g) {
        float[] acc = memory(into);
        Tensor h = toHost(g);
        for (int i = 0; i < acc.length; i++) {
            acc[i] += h.getFlat(i);
        }
    }

    @Override
    public Float8Tensor quantize(Tensor x, QuantSpec spec) {
        throw new UnsupportedOperationException();
    }

    @Override
    public Tensor dequantize(Float8Tensor q) {
        throw new UnsupportedOperationException();
    }

    @Override
    public Float8Tensor requantize(Float8Tensor q, QuantSpec spec) {
        throw new UnsupportedOperationException();
    }

    @Override
    public Tensor gemm(Float8Tensor a, Float8Tensor b) {
        throw new UnsupportedOperationException();
    }

    @Override
    public Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis) {
        throw new UnsupportedOperationException();
    }
}
