package dev.float8j.samples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.Module;
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
}
