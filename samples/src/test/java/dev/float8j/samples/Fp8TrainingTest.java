package dev.float8j.samples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.cpu.CpuBackend;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.train.CheckpointException;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** FP8 training of the sample tracks high precision, and the backward policies hold what they promise. */
class Fp8TrainingTest {
    /** Stated tolerance: mean loss of the last 10 of 40 steps within 2% (relative) of high precision's. */
    static final double TOLERANCE = 0.02;

    private static double tailMean(float[] losses) {
        double sum = 0;
        for (int i = losses.length - 10; i < losses.length; i++) {
            sum += losses[i];
        }
        return sum / 10;
    }

    @ParameterizedTest
    @EnumSource(value = TrainingRecipe.class, names = {"TENSORWISE", "ROWWISE_REQUANTIZE", "BLOCKWISE"})
    void fp8LossFallsAndTracksHighPrecision(TrainingRecipe recipe) {
        float[] hp = TrainingTest.losses(TrainingTest.trainer(TrainingRecipe.HIGH_PRECISION, 40), 40);
        float[] fp8 = TrainingTest.losses(TrainingTest.trainer(recipe, 40), 40);
        assertTrue(tailMean(fp8) < 0.75 * fp8[0], recipe + " loss should fall: " + fp8[0] + " -> " + tailMean(fp8));
        double gap = Math.abs(tailMean(fp8) - tailMean(hp)) / tailMean(hp);
        assertTrue(gap < TOLERANCE, recipe + " is " + gap + " from high precision");
    }

    /** Bytes the sample's FP8 layers (all but the head) hold after one forward of 64 contexts. */
    private static long fp8SavedBytes(TrainingRecipe recipe) {
        Init.seed(1);
        CharModel model = new CharModel(TrainingTest.SMALL, recipe.linears());
        Batch batch = Batch.training(TrainingTest.TEXT, TrainingTest.SMALL.context(), 64, 1, 0);
        Tensor logits = model.forward(batch.contexts());
        long total = 0;
        for (Module m : model.modules()) {
            if (m instanceof Linear l && !m.name().equals("head")) {
                total += l.savedBytes();
            }
        }
        model.backward(Tensor.zeros(logits.dtype(), logits.shape()));
        assertEquals(0, model.savedBytes(), "backward releases everything");
        return total;
    }

    @ParameterizedTest
    @EnumSource(value = TrainingRecipe.class, names = {"ROWWISE_REQUANTIZE", "ROWWISE_BOTH_AXES"})
    void fp8BackwardPoliciesHoldAboutOneByteAnElement(TrainingRecipe recipe) {
        long keep = fp8SavedBytes(TrainingRecipe.ROWWISE);
        long fp8 = fp8SavedBytes(recipe);
        assertEquals(fp8SavedBytes(TrainingRecipe.HIGH_PRECISION), keep, "KEEP_HIGH_PRECISION holds the F32 input");
        // F32 is 4 bytes an element, FP8 one plus the scales: a quarter, and a little more
        double ratio = (double) fp8 / keep;
        assertTrue(ratio > 0.25 && ratio < 0.3, recipe + " holds " + fp8 + " bytes against " + keep);
    }

    @Test
    void fp8RunResumesBitForBitOnTheCpuBackend(@TempDir Path dir) throws Exception {
        Backend before = Backends.current();
        Backends.use(new CpuBackend());
        try {
            TrainingRecipe recipe = TrainingRecipe.ROWWISE_REQUANTIZE;
            float[] whole = TrainingTest.losses(TrainingTest.trainer(recipe, 16), 16);
            assertArrayEquals(whole, TrainingTest.losses(TrainingTest.trainer(recipe, 16), 16), "same seed, same run");
            Trainer first = TrainingTest.trainer(recipe, 16);
            float[] head = TrainingTest.losses(first, 8);
            first.save(dir.resolve("c.f8j"));
            Trainer resumed = TrainingTest.trainer(recipe, 16);
            resumed.resume(dir.resolve("c.f8j"));
            float[] tail = TrainingTest.losses(resumed, 8);
            assertArrayEquals(Arrays.copyOfRange(whole, 0, 8), head);
            assertArrayEquals(Arrays.copyOfRange(whole, 8, 16), tail);
        } finally {
            Backends.use(before);
        }
    }

    @Test
    void bothAxesGivesTheSameBitsAsKeepingHighPrecision() {
        // both quantize the same F32 x along M for grad_weight: one in forward, one in backward
        assertArrayEquals(TrainingTest.losses(TrainingTest.trainer(TrainingRecipe.ROWWISE, 12), 12),
                TrainingTest.losses(TrainingTest.trainer(TrainingRecipe.ROWWISE_BOTH_AXES, 12), 12));
    }

    @Test
    void checkpointOfAnotherPlanIsRefused(@TempDir Path dir) throws Exception {
        Trainer rowwise = TrainingTest.trainer(TrainingRecipe.ROWWISE, 10);
        TrainingTest.losses(rowwise, 1);
        rowwise.save(dir.resolve("c.f8j"));
        Trainer blockwise = TrainingTest.trainer(TrainingRecipe.BLOCKWISE, 10);
        float before = blockwise.model().namedParameters().get("proj.weight").value().data()[0];
        CheckpointException e = assertThrows(CheckpointException.class, () -> blockwise.resume(dir.resolve("c.f8j")));
        assertTrue(e.getMessage().contains("layer proj was saved with FP8 plan"), e.getMessage());
        assertEquals(before, blockwise.model().namedParameters().get("proj.weight").value().data()[0]);
    }
}
