package dev.float8j.samples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.train.CheckpointException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingTest {
    static final TextCorpus TEXT = TextCorpus.generated(3, 30_000);
    static final CharModel.Config SMALL = new CharModel.Config(TEXT.vocabularySize(), 8, 8, 32, 64, 2);

    @TempDir
    Path dir;

    static Trainer trainer(TrainingRecipe recipe, long steps) {
        Init.seed(11);
        return new Trainer(new CharModel(SMALL, recipe.linears()), TEXT,
                new Trainer.Settings(16, steps, 1e-2, 1e-3, 3, 0.01, 1.0, 5));
    }

    static float[] losses(Trainer t, int steps) {
        float[] out = new float[steps];
        for (int i = 0; i < steps; i++) {
            out[i] = t.trainStep().loss();
        }
        return out;
    }

    @Test
    void lossFallsAndTheSameSeedGivesTheSameRunBitForBit() {
        float[] a = losses(trainer(TrainingRecipe.HIGH_PRECISION, 40), 40);
        float[] b = losses(trainer(TrainingRecipe.HIGH_PRECISION, 40), 40);
        assertArrayEquals(a, b);
        double first = (a[0] + a[1] + a[2]) / 3;
        double last = (a[37] + a[38] + a[39]) / 3;
        assertTrue(last < 0.75 * first, "loss should fall by a quarter: " + first + " -> " + last);
    }

    @Test
    void evaluationSavesNothingAndTouchesNoGradient() {
        Trainer t = trainer(TrainingRecipe.ROWWISE, 4);
        losses(t, 2);
        java.util.List<float[]> grads = t.model().parameters().stream().map(p -> p.grad().data().clone()).toList();
        float first = t.validationLoss(300);
        for (int i = 0; i < 3; i++) {
            assertEquals(first, t.validationLoss(300));
            assertEquals(0, t.model().savedBytes(), "evaluation keeps nothing for backward");
        }
        for (int i = 0; i < grads.size(); i++) {
            assertArrayEquals(grads.get(i), t.model().parameters().get(i).grad().data());
        }
        assertTrue(Float.isFinite(first));
    }

    @Test
    void resumedRunContinuesExactlyLikeTheUninterruptedOne() throws Exception {
        float[] whole = losses(trainer(TrainingRecipe.HIGH_PRECISION, 20), 20);

        Trainer first = trainer(TrainingRecipe.HIGH_PRECISION, 20);
        float[] firstHalf = losses(first, 10);
        Path file = dir.resolve("half.f8j");
        first.save(file);
        Trainer resumed = trainer(TrainingRecipe.HIGH_PRECISION, 20);
        resumed.resume(file);
        float[] secondHalf = losses(resumed, 10);

        float[] joined = new float[20];
        System.arraycopy(firstHalf, 0, joined, 0, 10);
        System.arraycopy(secondHalf, 0, joined, 10, 10);
        assertArrayEquals(whole, joined);
        assertTrue(Files.size(file) > 0);
    }

    @Test
    void checkpointOfAnotherRunIsRefused() throws Exception {
        Trainer t = trainer(TrainingRecipe.HIGH_PRECISION, 20);
        losses(t, 2);
        Path file = dir.resolve("c.f8j");
        t.save(file);
        Init.seed(11);
        Trainer other = new Trainer(new CharModel(SMALL, TrainingRecipe.HIGH_PRECISION.linears()), TEXT,
                new Trainer.Settings(16, 20, 1e-2, 1e-3, 3, 0.01, 1.0, 6));
        CheckpointException e = assertThrows(CheckpointException.class, () -> other.resume(file));
        assertTrue(e.getMessage().contains("another run"), e.getMessage());
    }

    @Test
    void nonFiniteWeightStopsTrainingWithANamedError() {
        Trainer t = trainer(TrainingRecipe.HIGH_PRECISION, 20);
        t.model().namedParameters().get("proj.weight").value().data()[0] = Float.NaN;
        ArithmeticException e = assertThrows(ArithmeticException.class, () -> losses(t, 1));
        assertTrue(e.getMessage().contains("NaN"), e.getMessage());
    }
}
