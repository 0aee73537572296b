package dev.float8j.runtime.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.Parameter;
import java.util.List;
import org.junit.jupiter.api.Test;

class OptimizerTest {

    /** A module with one parameter w = [1, -2], its gradient set by hand. */
    private static final class One extends Module {
        final Parameter w = parameter("w", Tensor.of(new float[] {1f, -2f}, 1, 2));
    }

    @Test
    void adamWFollowsTheFormulaForTwoSteps() {
        One m = new One();
        AdamW adam = new AdamW(m.parameters(), 0.1, 0.9, 0.999, 1e-8, 0.01);
        double[] w = {1, -2};
        double[] mom = new double[2];
        double[] vel = new double[2];
        float[][] grads = {{0.5f, -1f}, {0.25f, 2f}};
        for (int t = 1; t <= 2; t++) {
            System.arraycopy(grads[t - 1], 0, m.w.grad().data(), 0, 2);
            adam.step();
            for (int i = 0; i < 2; i++) {
                double g = grads[t - 1][i];
                mom[i] = 0.9 * mom[i] + 0.1 * g;
                vel[i] = 0.999 * vel[i] + 0.001 * g * g;
                double mHat = mom[i] / (1 - Math.pow(0.9, t));
                double vHat = vel[i] / (1 - Math.pow(0.999, t));
                w[i] -= 0.1 * (mHat / (Math.sqrt(vHat) + 1e-8) + 0.01 * w[i]);
                assertEquals(w[i], m.w.value().data()[i], 1e-6);
            }
        }
        assertEquals(2, adam.steps());
    }

    @Test
    void sgdWithMomentumFollowsTheFormula() {
        One m = new One();
        Sgd sgd = new Sgd(m.parameters(), 0.5, 0.9, 0);
        m.w.grad().data()[0] = 1f;
        sgd.step();
        assertEquals(1 - 0.5, m.w.value().data()[0], 1e-7);
        sgd.step(); // same gradient: buffer 0.9·1 + 1
        assertEquals(1 - 0.5 - 0.5 * 1.9, m.w.value().data()[0], 1e-6);
        assertEquals(-2f, m.w.value().data()[1]);
    }

    @Test
    void clippingScalesToTheGlobalNorm() {
        One a = new One();
        One b = new One();
        a.w.grad().data()[0] = 3f;
        b.w.grad().data()[1] = 4f;
        double norm = GradientClipping.clipGlobalNorm(List.of(a.w, b.w), 1.0);
        assertEquals(5.0, norm, 1e-9);
        assertEquals(0.6, a.w.grad().data()[0], 1e-5);
        assertEquals(0.8, b.w.grad().data()[1], 1e-5);
        assertEquals(1.0, GradientClipping.clipGlobalNorm(List.of(a.w, b.w), 10.0), 1e-5);
        b.w.grad().data()[0] = Float.NaN;
        assertThrows(ArithmeticException.class, () -> GradientClipping.clipGlobalNorm(List.of(a.w, b.w), 1.0));
    }

    @Test
    void scheduleWarmsUpThenDecaysByCosine() {
        LearningRateSchedule s = new LearningRateSchedule(1.0, 0.1, 4, 14);
        assertEquals(0.25, s.rate(0), 1e-12);
        assertEquals(1.0, s.rate(3), 1e-12);
        assertEquals(1.0, s.rate(4), 1e-12);
        assertEquals(0.1 + 0.45 * (1 + Math.cos(Math.PI * 0.5)), s.rate(9), 1e-12);
        assertEquals(0.1, s.rate(14), 1e-12);
        assertEquals(0.1, s.rate(100), 1e-12);
        assertThrows(IllegalArgumentException.class, () -> new LearningRateSchedule(1.0, 2.0, 0, 10));
    }
}
