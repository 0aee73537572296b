package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.BFloat16;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.dist.InProcessGroup;
import dev.float8j.runtime.nn.GradientCheck;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.Parameter;
import dev.float8j.runtime.nn.transformer.LlamaConfig;
import dev.float8j.runtime.nn.transformer.LlamaModel;
import dev.float8j.runtime.train.LearningRateSchedule;
import dev.float8j.runtime.train.LlamaTrainer;
import dev.float8j.runtime.train.ShardedLlamaTrainer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A parameter moved to the GPU with BF16 gradients: every product and sum that makes its gradient adds in F32 and
 * rounds once to BF16, the gradient comes back to the host as F32, and sharded training refuses it. The expected
 * values are the F32 results of the same calls, rounded on the host. Skips without a GPU.
 */
class Bf16GradientTest {
    private static final int OUT = 64;
    private static final int IN = 128;
    private static final int ROWS = 32;
    private CudaBackend cuda;
    private Parameter weight;

    @BeforeEach
    void deviceParameterWithABf16Gradient() {
        cuda = TestGpu.require();
        Linear layer = new Linear(IN, OUT);
        layer.moveTo(cuda, DType.BF16);
        weight = layer.weight();
    }

    private static Tensor random(int rows, int cols, long seed) {
        return GradientCheck.random(seed, 1f, rows, cols);
    }

    /** The gradient on the host, checked to be BF16 there. */
    private float[] gradient() {
        Tensor g = cuda.toHost(weight.grad());
        assertEquals(DType.BF16, g.dtype(), "the gradient's dtype on the device");
        return g.toFloatArray();
    }

    /**
     * Each element within one BF16 rounding of the F32 value: cuBLASLt may choose another kernel for a BF16 output than
     * for an F32 one, so its F32 sums may differ in their last bits and land on the other side of a rounding boundary.
     */
    private static void assertRoundedOnce(float[] f32, float[] actual, String what) {
        for (int i = 0; i < f32.length; i++) {
            float ulp = Math.max(Math.ulp(BFloat16.round(f32[i])) * 65536f, Float.MIN_NORMAL);
            assertEquals(f32[i], actual[i], ulp, what + ": element " + i);
        }
    }

    @Test
    void theParameterKeepsItsGradientInBf16OnTheDeviceAndInF32OnTheHost() {
        assertEquals(DType.BF16, weight.gradDType());
        Tensor g = random(OUT, IN, 2);
        weight.accumulateGrad(cuda.toDevice(g));
        float[] expected = g.to(DType.BF16).toFloatArray();
        assertArrayEquals(expected, gradient(), "one add into zeros: the gradient rounded once");
        weight.moveToHost();
        assertEquals(DType.F32, weight.gradDType());
        assertArrayEquals(expected, weight.grad().data(), "back on the host, widened to F32");
    }

    @Test
    void addsIntoTheGradientSumInF32AndRoundOnce() {
        Tensor g1 = random(OUT, IN, 3);
        Tensor g2 = random(OUT, IN, 4).to(DType.BF16);
        weight.zeroGrad();
        weight.accumulateGrad(cuda.toDevice(g1));
        weight.accumulateGrad(cuda.toDevice(g2));
        float[] first = g1.to(DType.BF16).toFloatArray();
        float[] second = g2.toFloatArray();
        float[] expected = new float[first.length];
        for (int i = 0; i < expected.length; i++) {
            expected[i] = BFloat16.round(first[i] + second[i]);
        }
        assertArrayEquals(expected, gradient());
    }

    @Test
    void gemmsIntoTheGradientAreTheF32ProductsRoundedOnce() {
        QuantSpec along0 = new QuantSpec(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 0, false);
        Float8Tensor dy = cuda.quantize(cuda.toDevice(random(ROWS, OUT, 5)), along0);
        Float8Tensor x = cuda.quantize(cuda.toDevice(random(ROWS, IN, 6)), along0);
        float[] product = cuda.toHost(cuda.gemm(dy, x)).data();
        assertEachAddRoundsOnce(product, () -> weight.accumulateGradGemm(cuda, dy, x), "gemm");
    }

    /**
     * After zeroGrad, add (one product into the gradient) writes product rounded once; run again, it adds product to
     * that BF16 gradient and rounds the sum once.
     */
    private void assertEachAddRoundsOnce(float[] product, Runnable add, String what) {
        weight.zeroGrad();
        add.run();
        float[] once = gradient();
        assertRoundedOnce(product, once, "the first " + what + " after zeroGrad");
        add.run();
        float[] sum = new float[product.length];
        for (int i = 0; i < sum.length; i++) {
            sum[i] = once[i] + product[i];
        }
        assertRoundedOnce(sum, gradient(), "the second " + what + ", added into the BF16 gradient");
    }

    @Test
    void matmulsIntoTheGradientAreTheF32ProductsRoundedOnce() {
        Tensor dy = cuda.toDevice(random(ROWS, OUT, 7).to(DType.BF16));
        Tensor x = cuda.toDevice(random(ROWS, IN, 8).to(DType.BF16));
        float[] product = cuda.toHost(cuda.matmul(dy, 0, x, 0)).toFloatArray();
        assertEachAddRoundsOnce(product, () -> weight.accumulateGradMatmul(cuda, dy, 0, x, 0), "matmul");
    }

    @Test
    void shardedTrainingRefusesBf16GradientsByName() {
        Init.seed(3);
        LlamaModel model = new LlamaModel(LlamaConfig.of(128, 1, 2, 1, 256, 32, 16), DType.BF16,
                (name, in, out) -> new Linear(in, out));
        model.moveTo(cuda, DType.BF16);
        LlamaTrainer.Settings settings = new LlamaTrainer.Settings(new LearningRateSchedule(1e-3, 1e-4, 0, 10), 0.0, 1f,
                LlamaTrainer.OnNonFinite.FAIL);
        IllegalArgumentException e = InProcessGroup.run(1, comm -> assertThrows(IllegalArgumentException.class,
                () -> new ShardedLlamaTrainer(comm, model, settings))).get(0);
        String first = model.parameters().get(0).name();
        assertTrue(e.getMessage().contains("F32 gradients") && e.getMessage().contains(first), e.getMessage());
    }
}
