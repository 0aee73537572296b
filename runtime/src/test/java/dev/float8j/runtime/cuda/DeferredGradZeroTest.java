package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.GradientCheck;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.Parameter;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * zeroGrad on a device writes nothing until the gradient is used: the next gemm or matmul product overwrites it, and
 * every other read or add sees zeros first. Each case starts from a gradient full of non-zero values, so a product
 * added to them instead of written over them shows. Skips without a GPU.
 */
class DeferredGradZeroTest {
    private static final int OUT = 64;
    private static final int IN = 128;
    private static final int ROWS = 32;
    private CudaBackend cuda;
    private Parameter weight;

    @BeforeEach
    void deviceParameterWithAStaleGradient() {
        cuda = TestGpu.require();
        Linear layer = new Linear(IN, OUT);
        layer.moveTo(cuda);
        weight = layer.weight();
        weight.accumulateGrad(cuda.toDevice(filled(OUT, IN, 7f)));
        assertEquals(7f, cuda.toHost(weight.grad()).getFlat(0), "the stale gradient to be forgotten");
    }

    private static Tensor filled(int rows, int cols, float v) {
        float[] data = new float[rows * cols];
        java.util.Arrays.fill(data, v);
        return Tensor.of(data, rows, cols);
    }

    private static Tensor random(int rows, int cols, long seed) {
        return GradientCheck.random(seed, 1f, rows, cols);
    }

    /** dY [ROWS, OUT] and x [ROWS, IN] along axis 0, as grad_weight reads them, on the device. */
    private Float8Tensor[] gradWeightOperands(long seed) {
        QuantSpec along0 = new QuantSpec(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 0, false);
        return new Float8Tensor[] {cuda.quantize(cuda.toDevice(random(ROWS, OUT, seed)), along0),
                cuda.quantize(cuda.toDevice(random(ROWS, IN, seed + 1)), along0)};
    }

    @Test
    void theFirstGemmAfterZeroGradOverwritesTheGradientAndTheNextAddsToIt() {
        Float8Tensor[] first = gradWeightOperands(1);
        Float8Tensor[] second = gradWeightOperands(3);
        float[] p1 = cuda.toHost(cuda.gemm(first[0], first[1])).data();
        float[] p2 = cuda.toHost(cuda.gemm(second[0], second[1])).data();
        weight.zeroGrad();
        weight.accumulateGradGemm(cuda, first[0], first[1]);
        assertArrayEquals(p1, cuda.toHost(weight.grad()).data(), "the first product, without the stale 7s");
        weight.accumulateGradGemm(cuda, second[0], second[1]);
        float[] sum = cuda.toHost(weight.grad()).data();
        for (int i = 0; i < sum.length; i++) {
            assertEquals(p1[i] + p2[i], sum[i], 1e-4f * (1 + Math.abs(sum[i])), "element " + i);
        }
    }

    @Test
    void theFirstMatmulAfterZeroGradOverwritesTheGradient() {
        Tensor dy = cuda.toDevice(random(ROWS, OUT, 5).to(DType.BF16));
        Tensor x = cuda.toDevice(random(ROWS, IN, 6).to(DType.BF16));
        float[] product = cuda.toHost(cuda.matmul(dy, 0, x, 0)).data();
        weight.zeroGrad();
        weight.accumulateGradMatmul(cuda, dy, 0, x, 0);
        assertArrayEquals(product, cuda.toHost(weight.grad()).data());
    }

    @Test
    void readingOrAddingAfterZeroGradSeesZeros() {
        weight.zeroGrad();
        assertArrayEquals(new float[OUT * IN], cuda.toHost(weight.grad()).data(), "grad() reads zeros");
        weight.accumulateGrad(cuda.toDevice(filled(OUT, IN, 7f)));
        weight.zeroGrad();
        Tensor g = random(OUT, IN, 8);
        weight.accumulateGrad(cuda.toDevice(g));
        assertArrayEquals(g.data(), cuda.toHost(weight.grad()).data(), "an add after zeroGrad starts from zeros");
    }

    @Test
    void movingToTheHostAfterZeroGradBringsZeros() {
        weight.zeroGrad();
        weight.moveToHost();
        assertArrayEquals(new float[OUT * IN], weight.grad().data());
    }
}
