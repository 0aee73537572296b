package dev.float8j.runtime.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.Init;
import org.junit.jupiter.api.Test;

class MeanSquaredErrorTest {

    @Test
    void valueAndGradientOfAHandExample() {
        MeanSquaredError mse = new MeanSquaredError();
        float loss = mse.forward(Tensor.of(new float[] {1, 2, 3, 4}, 2, 2), Tensor.of(new float[] {0, 2, 5, 4}, 2, 2));
        assertEquals(1.25f, loss); // (1 + 0 + 4 + 0) / 4
        Tensor g = mse.backward();
        assertArrayEquals(new int[] {2, 2}, g.shape());
        assertArrayEquals(new float[] {0.5f, 0f, -1f, 0f}, g.data()); // 2 * (p - t) / 4
    }

    @Test
    void gradientMatchesFiniteDifferences() {
        Init.seed(11);
        float[] p = Init.normal(12, 1f);
        Tensor target = Tensor.of(Init.normal(12, 1f), 3, 4);
        MeanSquaredError mse = new MeanSquaredError();
        mse.forward(Tensor.of(p.clone(), 3, 4), target);
        float[] analytic = mse.backward().data();
        double h = 1e-3;
        for (int i = 0; i < p.length; i++) {
            float[] plus = p.clone();
            float[] minus = p.clone();
            plus[i] += (float) h;
            minus[i] -= (float) h;
            double numeric = (mse.forward(Tensor.of(plus, 3, 4), target) - mse.forward(Tensor.of(minus, 3, 4), target)) / (2 * h);
            assertEquals(numeric, analytic[i], 2e-3, "element " + i);
        }
    }

    @Test
    void mismatchedShapesAndMissingForwardAreRefused() {
        MeanSquaredError mse = new MeanSquaredError();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> mse.forward(Tensor.of(new float[4], 2, 2), Tensor.of(new float[4], 4, 1)));
        assertEquals("mean squared error: prediction [2, 2] and target [4, 1] differ in shape", e.getMessage());
        assertThrows(IllegalStateException.class, mse::backward);
    }
}
