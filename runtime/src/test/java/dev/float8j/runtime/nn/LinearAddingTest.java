package dev.float8j.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Float8Plan;
import dev.float8j.runtime.BFloat16;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link Linear#forwardAdding} and {@link Linear#backwardAdding}, for the high-precision plan and every FP8 plan, on
 * the reference and the CPU backend: the addend is added to the F32 result before its one rounding (not to the
 * rounded result, which would round twice), W's gradient is that of the plain backward, a wrong addend is refused
 * before anything changes, and a subclass with a forward of its own keeps it.
 */
class LinearAddingTest {
    static final int IN = LinearBiasTest.IN;
    static final int OUT = LinearBiasTest.OUT;

    private final Backend before = Backends.current();

    @AfterEach
    void restoreBackend() {
        Backends.use(before);
    }

    /** A tensor of the given shape and dtype with normal values of the given spread, from seed. */
    static Tensor normal(long seed, float spread, DType dtype, int... shape) {
        Init.seed(seed);
        return Tensor.of(Init.normal(Arrays.stream(shape).reduce(1, (a, b) -> a * b), spread), shape).to(dtype);
    }

    static Tensor forwardAdding(Linear layer, Tensor x, Tensor residual) {
        try (SharedInput in = SharedInput.of(x)) {
            return layer.forwardAdding(in, residual);
        }
    }

    @Test
    void f32ForwardAddingIsTheForwardPlusTheResidual() {
        Tensor x = Float8LinearTest.input(1);
        Tensor residual = normal(3, 1f, DType.F32, 2, 6, OUT);
        for (Backend backend : LinearBiasTest.backends()) {
            Backends.use(backend);
            for (Float8Plan plan : LinearBiasTest.plans()) {
                float[] y = LinearBiasTest.layer(plan, true).forward(x).data();
                Tensor sum = forwardAdding(LinearBiasTest.layer(plan, true), x, residual);
                assertArrayEquals(residual.shape(), sum.shape());
                float[] expected = new float[y.length];
                for (int i = 0; i < y.length; i++) {
                    expected[i] = y[i] + residual.getFlat(i);
                }
                assertArrayEquals(expected, sum.data(), backend.name() + " " + plan);
            }
        }
    }

    /** BF16: the F32 sum (with bias) plus the residual, rounded to BF16 once. */
    @Test
    void bf16ForwardAddingRoundsTheF32SumPlusResidualOnce() {
        Tensor x16 = Float8LinearTest.input(1).to(DType.BF16);
        Tensor sameValuesInF32 = x16.to(DType.F32);
        Tensor residual = normal(3, 1f, DType.BF16, 2, 6, OUT);
        int roundedTwiceDiffers = 0;
        for (Backend backend : LinearBiasTest.backends()) {
            Backends.use(backend);
            for (Float8Plan plan : LinearBiasTest.plans()) {
                float[] f32 = LinearBiasTest.layer(plan, true).forward(sameValuesInF32).data();
                Tensor sum = forwardAdding(LinearBiasTest.layer(plan, true), x16, residual);
                assertEquals(DType.BF16, sum.dtype());
                for (int i = 0; i < f32.length; i++) {
                    float once = BFloat16.round(f32[i] + residual.getFlat(i));
                    assertEquals(once, sum.getFlat(i), backend.name() + " " + plan + " at " + i);
                    roundedTwiceDiffers += once != BFloat16.round(BFloat16.round(f32[i]) + residual.getFlat(i)) ? 1 : 0;
                }
            }
        }
        assertTrue(roundedTwiceDiffers > 0, "the inputs tell one rounding from two");
    }

    @Test
    void backwardAddingIsTheBackwardPlusTheAddendAndLeavesTheWeightGradientAsIs() {
        Tensor x = Float8LinearTest.input(1);
        Tensor dy = Float8LinearTest.gradOutput(2);
        Tensor addend = normal(4, 0.01f, DType.F32, 2, 6, IN);
        for (Backend backend : LinearBiasTest.backends()) {
            Backends.use(backend);
            for (Float8Plan plan : LinearBiasTest.plans()) {
                Linear plain = LinearBiasTest.layer(plan, true);
                plain.forward(x);
                float[] dx = plain.backward(dy).data();
                Linear adding = LinearBiasTest.layer(plan, true);
                adding.forward(x);
                Tensor sum = adding.backwardAdding(dy, addend);
                assertArrayEquals(x.shape(), sum.shape());
                float[] expected = new float[dx.length];
                for (int i = 0; i < dx.length; i++) {
                    expected[i] = dx[i] + addend.getFlat(i);
                }
                assertArrayEquals(expected, sum.data(), backend.name() + " " + plan + " dX");
                assertArrayEquals(plain.weight().grad().data(), adding.weight().grad().data(), plan + " dW");
                assertArrayEquals(plain.bias().grad().data(), adding.bias().grad().data(), plan + " db");
            }
        }
    }

    @Test
    void aWrongAddendIsRefusedBeforeAnythingChanges() {
        Tensor x = Float8LinearTest.input(1);
        Tensor dy = Float8LinearTest.gradOutput(2);
        for (Backend backend : LinearBiasTest.backends()) {
            Backends.use(backend);
            for (Float8Plan plan : LinearBiasTest.plans()) {
                Linear layer = LinearBiasTest.layer(plan, false);
                IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                        () -> forwardAdding(layer, x, normal(3, 1f, DType.F32, 2, 6, OUT + 1)));
                assertTrue(shape.getMessage().contains("12x" + OUT), shape.getMessage());
                assertThrows(IllegalArgumentException.class,
                        () -> forwardAdding(layer, x, normal(3, 1f, DType.BF16, 2, 6, OUT)), "dtype");
                assertEquals(0, layer.savedBytes(), plan + ": a refused forward saves nothing");
                layer.forward(x);
                long saved = layer.savedBytes();
                assertThrows(IllegalArgumentException.class,
                        () -> layer.backwardAdding(dy, normal(4, 1f, DType.F32, 2, 6, IN - 1)));
                assertEquals(saved, layer.savedBytes(), plan + ": a refused backward keeps the save");
                assertArrayEquals(new float[IN * OUT], layer.weight().grad().data(), plan + ": dW untouched");
                Linear plain = LinearBiasTest.layer(plan, false);
                plain.forward(x);
                assertArrayEquals(plain.backward(dy).data(), layer.backward(dy).data(), plan + ": the retry");
            }
        }
    }

    /** A layer whose forward doubles y: forwardAdding must not skip it. */
    static final class Doubling extends Linear {
        Doubling() {
            super(IN, OUT);
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor y = super.forward(x);
            float[] v = y.data();
            for (int i = 0; i < v.length; i++) {
                v[i] *= 2;
            }
            return y;
        }
    }

    @Test
    void aSubclassWithItsOwnForwardGetsItAndThenTheAdd() {
        Tensor x = Float8LinearTest.input(1);
        Tensor residual = normal(3, 1f, DType.F32, 2, 6, OUT);
        Init.seed(LinearBiasTest.SEED);
        float[] doubled = new Doubling().forward(x).data();
        Init.seed(LinearBiasTest.SEED);
        float[] sum = forwardAdding(new Doubling(), x, residual).data();
        for (int i = 0; i < sum.length; i++) {
            assertEquals(doubled[i] + residual.getFlat(i), sum[i], 1e-6f, "at " + i);
        }
    }
}
