package dev.float8j.samples.quickstart;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Init;
import org.junit.jupiter.api.Test;

class QuickStartTest {

    @Test
    void theReadmeLoopConvertsTheModelAndLearns() {
        Init.seed(1);
        QuickStart.Mlp model = new QuickStart.Mlp();
        float[] losses = QuickStart.train(model, 30);
        assertInstanceOf(Float8Linear.class, model.up);
        assertInstanceOf(Float8Linear.class, model.down);
        float last = losses[losses.length - 1];
        assertTrue(last < 0.2f * losses[0], "loss " + losses[0] + " -> " + last);
    }
}
