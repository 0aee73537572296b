package dev.float8j.runtime.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.FakeDeviceBackend;
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

    /**
     * A guarded step that met a NaN loss or an infinite norm, once taken back, leaves AdamW as it was: weights, moments
     * and step count; the next step is bit for bit the one an optimizer that never saw it takes.
     */
    @Test
    void aGuardedAdamWStepTakenBackLeavesNoTrace() {
        One guarded = new One();
        One plain = new One();
        AdamW adam = new AdamW(guarded.parameters(), 0.1, 0.9, 0.999, 1e-8, 0.01);
        AdamW twin = new AdamW(plain.parameters(), 0.1, 0.9, 0.999, 1e-8, 0.01);
        Tensor finiteLoss = Tensor.of(new float[] {1.5f}, 1, 1);
        guarded.w.grad().data()[0] = 0.5f;
        plain.w.grad().data()[0] = 0.5f;
        adam.step(Tensor.of(new float[] {0.25f}, 1, 1), 1f, finiteLoss);
        twin.step(Tensor.of(new float[] {0.25f}, 1, 1), 1f, null);
        float[] w = guarded.w.value().toFloatArray().clone();
        float[] expAvg = adam.state().get("w.exp_avg").clone();
        float[] expAvgSq = adam.state().get("w.exp_avg_sq").clone();
        Tensor[][] nonFinite = {{Tensor.of(new float[] {Float.NaN}, 1, 1), Tensor.of(new float[] {0.25f}, 1, 1)},
                {finiteLoss, Tensor.of(new float[] {Float.POSITIVE_INFINITY}, 1, 1)}};
        for (Tensor[] guard : nonFinite) {
            adam.step(guard[1], 1f, guard[0]);
            assertEquals(2, adam.steps(), "counted until taken back");
            adam.uncountSkippedStep();
            assertEquals(1, adam.steps());
            assertArrayEquals(w, guarded.w.value().toFloatArray());
            assertArrayEquals(expAvg, adam.state().get("w.exp_avg"));
            assertArrayEquals(expAvgSq, adam.state().get("w.exp_avg_sq"));
        }
        guarded.w.grad().data()[1] = 2f;
        plain.w.grad().data()[1] = 2f;
        Tensor sum = Tensor.of(new float[] {4.25f}, 1, 1);
        adam.step(sum, 1f, finiteLoss);
        twin.step(sum, 1f, null);
        assertArrayEquals(plain.w.value().toFloatArray(), guarded.w.value().toFloatArray());
        assertEquals(twin.state().keySet(), adam.state().keySet());
        for (String name : twin.state().keySet()) {
            assertArrayEquals(twin.state().get(name), adam.state().get(name), name);
        }
        assertEquals(2, adam.steps());
        assertThrows(IllegalStateException.class, () -> new AdamW(plain.parameters(), 0.1, 0).uncountSkippedStep());
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

    /**
     * Moments made before the model moved to a device: the step refuses before updating any parameter, and the refused
     * update is not counted. The first parameter stays on the host, the second moves to a stand-in device, so a check
     * made while updating (rather than before) would have written the first.
     */
    @Test
    void anAdamWStepRefusedForMisplacedMomentsChangesNothing() {
        final class Two extends Module {
            final Parameter a = parameter("a", Tensor.of(new float[] {1f, -2f}, 1, 2));
            final Parameter b = parameter("b", Tensor.of(new float[] {3f, 4f}, 1, 2));
        }
        Two m = new Two();
        AdamW adam = new AdamW(m.parameters(), 0.1, 0.01);
        m.a.grad().data()[0] = 0.5f;
        m.b.moveTo(new FakeDeviceBackend());
        IllegalStateException e = assertThrows(IllegalStateException.class, adam::step);
        assertTrue(e.getMessage().contains("b"), e.getMessage());
        assertArrayEquals(new float[] {1f, -2f}, m.a.value().toFloatArray(), "a, before b in the loop, unchanged");
        assertEquals(0, adam.steps(), "the refused update is not counted");
    }
}
