package dev.float8j.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.FakeDeviceBackend;
import dev.float8j.runtime.backend.ReferenceBackend;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link Parameter#zeroGrad()} on a device, without a GPU: a stand-in backend ({@link FakeDeviceBackend}) keeps
 * "device" tensors in memory only it reads, and counts the zeroes it writes. zeroGrad writes nothing; the next matmul product overwrites the gradient;
 * any other use zeroes it first; a product that fails leaves it reading zero. The GPU's own paths are checked by
 * cuda.DeferredGradZeroTest.
 */
class DeferredGradZeroOnDeviceTest {
    private static final int OUT = 3;
    private static final int IN = 4;
    private static final int ROWS = 5;

    /** The stand-in, counting the zeros it writes; its matmuls run on the host reference and land in its memory. */
    private static final class FakeDevice extends FakeDeviceBackend {
        private final ReferenceBackend host = new ReferenceBackend();
        int zeroes;
        boolean failNextProduct;

        @Override
        public void zero(Tensor t) {
            zeroes++;
            super.zero(t);
        }

        /** The product, written over into: what the CUDA backend's beta = 0 gemm does. */
        @Override
        public void matmulInto(Tensor into, Tensor a, int aAxis, Tensor b, int bAxis) {
            float[] product = product(a, aAxis, b, bAxis);
            System.arraycopy(product, 0, memory(into), 0, product.length);
        }

        @Override
        public void matmulAccumulate(Tensor into, Tensor a, int aAxis, Tensor b, int bAxis) {
            float[] product = product(a, aAxis, b, bAxis);
            float[] acc = memory(into);
            for (int i = 0; i < acc.length; i++) {
                acc[i] += product[i];
            }
        }

        private float[] product(Tensor a, int aAxis, Tensor b, int bAxis) {
            if (failNextProduct) {
                failNextProduct = false;
                throw new IllegalStateException("the device failed");
            }
            return host.matmul(toHost(a), aAxis, toHost(b), bAxis).data();
        }
    }

    private FakeDevice device;
    private Parameter weight;
    private final Tensor dy = GradientCheck.random(1, 1f, ROWS, OUT);
    private final Tensor x = GradientCheck.random(2, 1f, ROWS, IN);

    @BeforeEach
    void parameterOnTheDeviceWithAStaleGradient() {
        device = new FakeDevice();
        Linear layer = new Linear(IN, OUT);
        layer.moveTo(device);
        weight = layer.weight();
        weight.accumulateGrad(device.toDevice(filled(7f)));
        device.zeroes = 0;
    }

    private static Tensor filled(float v) {
        float[] data = new float[OUT * IN];
        java.util.Arrays.fill(data, v);
        return Tensor.of(data, OUT, IN);
    }

    /** dW = dYᵀ·x on the host reference: what a fresh gradient holds after one product. */
    private float[] product() {
        return new ReferenceBackend().matmul(dy, 0, x, 0).data();
    }

    private float[] gradient() {
        return device.toHost(weight.grad()).data();
    }

    @Test
    void zeroGradWritesNothingAndTheNextProductOverwritesTheGradient() {
        weight.zeroGrad();
        assertEquals(0, device.zeroes, "zeroGrad writes no zeros");
        weight.accumulateGradMatmul(device, dy, 0, x, 0);
        assertArrayEquals(product(), gradient(), "the product, without the stale 7s");
        assertEquals(0, device.zeroes, "nor does the product that replaces them");
    }

    @Test
    void aSecondProductAddsToTheFirst() {
        weight.zeroGrad();
        weight.accumulateGradMatmul(device, dy, 0, x, 0);
        weight.accumulateGradMatmul(device, dy, 0, x, 0);
        float[] once = product();
        float[] twice = gradient();
        for (int i = 0; i < once.length; i++) {
            assertEquals(2 * once[i], twice[i], 1e-5f, "element " + i);
        }
    }

    @Test
    void readingOrAddingAfterZeroGradSeesZeros() {
        weight.zeroGrad();
        assertArrayEquals(new float[OUT * IN], gradient(), "grad() reads zeros");
        assertEquals(1, device.zeroes, "written when first read");
        weight.accumulateGrad(device.toDevice(filled(7f)));
        weight.zeroGrad();
        weight.accumulateGrad(device.toDevice(filled(2f)));
        assertArrayEquals(filled(2f).data(), gradient(), "an add after zeroGrad starts from zeros");
    }

    @Test
    void aProductThatFailsLeavesTheGradientReadingZero() {
        weight.zeroGrad();
        device.failNextProduct = true;
        assertThrows(IllegalStateException.class, () -> weight.accumulateGradMatmul(device, dy, 0, x, 0));
        assertArrayEquals(new float[OUT * IN], gradient(), "still zero, not the stale 7s");
    }

    @Test
    void aParameterSharingTheTensorsSharesThePendingZero() {
        Linear other = new Linear(IN, OUT);
        other.weight().shareTensorsOf(weight);
        weight.zeroGrad();
        assertArrayEquals(new float[OUT * IN], device.toHost(other.weight().grad()).data());
    }

    @Test
    void movingToTheHostAfterZeroGradBringsZeros() {
        weight.zeroGrad();
        weight.moveToHost();
        assertArrayEquals(new float[OUT * IN], weight.grad().data());
    }
}
