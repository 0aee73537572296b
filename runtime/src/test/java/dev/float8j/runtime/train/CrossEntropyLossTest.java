package dev.float8j.runtime.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.Tensor;
import org.junit.jupiter.api.Test;

class CrossEntropyLossTest {

    @Test
    void matchesLogSumExpAndItsGradient() {
        float[] logits = {1f, 2f, 0.5f, -1f, 3f, 0f};
        int[] targets = {1, 0};
        CrossEntropyLoss ce = new CrossEntropyLoss();
        float loss = ce.forward(Tensor.of(logits.clone(), 2, 3), targets);
        double expected = 0;
        double[][] softmax = new double[2][3];
        for (int r = 0; r < 2; r++) {
            double z = 0;
            for (int c = 0; c < 3; c++) {
                z += Math.exp(logits[r * 3 + c]);
            }
            for (int c = 0; c < 3; c++) {
                softmax[r][c] = Math.exp(logits[r * 3 + c]) / z;
            }
            expected += -Math.log(softmax[r][targets[r]]) / 2;
        }
        assertEquals(expected, loss, 1e-6);
        Tensor g = ce.backward();
        for (int r = 0; r < 2; r++) {
            for (int c = 0; c < 3; c++) {
                assertEquals((softmax[r][c] - (c == targets[r] ? 1 : 0)) / 2, g.get(r, c), 1e-6);
            }
        }
    }

    @Test
    void isStableForLargeLogits() {
        float loss = new CrossEntropyLoss().forward(Tensor.of(new float[] {1000f, 0f}, 1, 2), new int[] {1});
        assertEquals(1000f, loss, 1e-3);
    }

    @Test
    void rejectsBadTargetsAndNonFiniteLogits() {
        CrossEntropyLoss ce = new CrossEntropyLoss();
        IllegalArgumentException range = assertThrows(IllegalArgumentException.class,
                () -> ce.forward(Tensor.of(new float[] {0f, 1f}, 1, 2), new int[] {2}));
        assertTrue(range.getMessage().contains("target 2"), range.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ce.forward(Tensor.of(new float[] {0f, 1f}, 1, 2), new int[] {0, 1}));
        ArithmeticException nan = assertThrows(ArithmeticException.class,
                () -> ce.forward(Tensor.of(new float[] {Float.NaN, 1f}, 1, 2), new int[] {0}));
        assertTrue(nan.getMessage().contains("NaN"), nan.getMessage());
    }
}
