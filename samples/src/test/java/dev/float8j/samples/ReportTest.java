package dev.float8j.samples;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.debug.Selection;
import dev.float8j.runtime.debug.StatisticsObserver;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The summary never calls a run whose validation loss is NaN "within 1%". */
class ReportTest {
    private static RunResult run(TrainingRecipe recipe, float validationLoss) {
        return new RunResult(recipe, new float[] {3f, 2f}, new long[] {2}, new float[] {validationLoss}, 2f,
                validationLoss, 1000, 1024, 1, new StatisticsObserver(Selection.all()));
    }

    private static String summary(float baseline, float fp8) {
        Report report = new Report("text", new CharModel.Config(30, 4, 16, 8, 8, 1),
                new Trainer.Settings(2, 2, 1e-3, 1e-4, 1, 0.01, 1, 1), "cpu",
                List.of(run(TrainingRecipe.HIGH_PRECISION, baseline), run(TrainingRecipe.TENSORWISE, fp8)));
        return report.resultsMarkdown();
    }

    @Test
    void aNaNLossIsNeverWithinTolerance() {
        for (String s : new String[] {summary(2f, Float.NaN), summary(Float.NaN, 2f), summary(Float.NaN, Float.NaN)}) {
            assertFalse(s.contains("Every FP8 run"), s);
            assertTrue(s.contains("NOT within 1%: tensorwise"), s);
            assertTrue(s.contains("NaN"), s);
        }
        String fine = summary(2f, 2.01f);
        assertTrue(fine.contains("Every FP8 run's validation loss is within 1%"), fine);
    }
}
