package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Float8Recipes;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.Parameter;
import dev.float8j.runtime.nn.WeightCastReuse;
import dev.float8j.runtime.train.AdamW;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Weight-cast reuse with the weight on the GPU: gradient accumulation gives the same bits with reuse on and off
 * (tensorwise grad_input then reads the output gemm's copy transposed).
 */
class DeviceWeightCastReuseTest {
    private CudaBackend cuda;
    private Backend previous;

    @BeforeEach
    void needsGpu() {
        cuda = TestGpu.require();
        previous = Backends.current();
        Backends.use(cuda);
    }

    @AfterEach
    void restore() {
        if (previous != null) {
            Backends.use(previous);
        }
        WeightCastReuse.setEnabled(true);
    }

    private static Tensor random(int rows, int cols, long seed) {
        Init.seed(seed);
        return Tensor.of(Init.normal(rows * cols, 1f), rows, cols);
    }

    /** Two AdamW steps of three accumulated micro-batches each, on the device; the weight back on the host. */
    private float[] train(Float8Plan plan, boolean reuse) {
        return train(() -> new Float8Linear(256, 128, plan), reuse);
    }

    private float[] train(Supplier<Linear> make, boolean reuse) {
        WeightCastReuse.setEnabled(reuse);
        Init.seed(5);
        Linear layer = make.get();
        layer.moveTo(cuda);
        AdamW optimizer = new AdamW(layer.parameters(), 1e-2, 0.01);
        for (int step = 0; step < 2; step++) {
            layer.zeroGrad();
            try (WeightCastReuse.Window casts = WeightCastReuse.open()) {
                for (int m = 0; m < 3; m++) {
                    layer.forward(cuda.toDevice(random(64, 256, 10 * step + m).to(DType.BF16)));
                    layer.backward(cuda.toDevice(random(64, 128, 100 + 10 * step + m).to(DType.BF16)));
                }
            }
            optimizer.step();
        }
        Parameter w = layer.weight();
        return w.toHost(w.value()).toFloatArray();
    }

    @Test
    void accumulationGivesTheSameBitsWithReuseOnAndOff() {
        for (String recipe : new String[] {"tensorwise", "rowwise", "rowwise_both_axes", "blockwise"}) {
            Float8Plan plan = Float8Recipes.named(recipe);
            assertArrayEquals(train(plan, false), train(plan, true), recipe);
        }
    }

    /** The BF16 copy of an F32 weight a high-precision layer's gemms read is made once per step: the same bits. */
    @Test
    void aHighPrecisionLayerGivesTheSameBitsWithItsWeightConvertedOncePerStep() {
        assertArrayEquals(train(() -> new Linear(256, 128), false), train(() -> new Linear(256, 128), true));
    }
}
