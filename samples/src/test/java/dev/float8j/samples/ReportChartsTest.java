package dev.float8j.samples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.debug.Selection;
import dev.float8j.runtime.debug.StatisticsObserver;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReportChartsTest {
    @TempDir
    Path dir;

    private static RunResult run(TrainingRecipe recipe, float offset) {
        float[] losses = new float[100];
        for (int i = 0; i < losses.length; i++) {
            losses[i] = 3f / (1 + i / 10f) + offset;
        }
        return new RunResult(recipe, losses, new long[] {50, 100}, new float[] {1.0f + offset, 0.5f + offset},
                losses[99], 0.5f + offset, 1000, 1024, 1.0, new StatisticsObserver(Selection.all()));
    }

    @Test
    void writesTheFourChartsAsImages() throws IOException {
        System.setProperty("java.awt.headless", "true");
        RunResult hp = run(TrainingRecipe.HIGH_PRECISION, 0);
        List<RunResult> runs = List.of(hp, run(TrainingRecipe.TENSORWISE, 0.004f), run(TrainingRecipe.MX, -0.002f));
        new ReportCharts(runs, hp).writeAll(dir);
        for (String name : List.of("gap.png", "final-gap.png", "loss.png", "loss-second-half.png")) {
            BufferedImage image = ImageIO.read(dir.resolve(name).toFile());
            assertEquals(1100, image.getWidth(), name);
            assertEquals(650, image.getHeight(), name);
        }
    }

    @Test
    void smoothingIsATrailingMeanOverATenthOfTheRun() {
        RunResult hp = run(TrainingRecipe.HIGH_PRECISION, 0);
        ReportCharts charts = new ReportCharts(List.of(hp), hp);   // 100 steps: a 10-step window
        float[] values = new float[12];
        values[0] = 10;
        values[11] = 20;
        double[] s = charts.smoothed(values);
        assertEquals(10.0, s[0]);
        assertEquals(5.0, s[1]);          // (10 + 0) / 2
        assertEquals(1.0, s[9]);          // 10 / 10
        assertEquals(0.0, s[10]);         // the 10 has left the window
        assertEquals(2.0, s[11]);         // 20 / 10
    }

    @Test
    void aRunIdenticalToAnEarlierOneSaysSoInTheLegend() {
        RunResult hp = run(TrainingRecipe.HIGH_PRECISION, 0);
        RunResult rowwise = run(TrainingRecipe.ROWWISE, 0.003f);
        RunResult bothAxes = run(TrainingRecipe.ROWWISE_BOTH_AXES, 0.003f);
        ReportCharts charts = new ReportCharts(List.of(hp, rowwise, bothAxes), hp);
        assertEquals("rowwise", charts.label(rowwise));
        assertEquals("rowwise-both-axes (= rowwise)", charts.label(bothAxes));
    }

    @Test
    void ticksAreOneTwoOrFiveTimesAPowerOfTen() {
        assertArrayEquals(new double[] {1, 2, 5, 10, 20, 50, 50, 100},
                new double[] {ReportCharts.roundTick(0.3), ReportCharts.roundTick(1.5), ReportCharts.roundTick(3),
                    ReportCharts.roundTick(7), ReportCharts.roundTick(12.5), ReportCharts.roundTick(25),
                    ReportCharts.roundTick(50), ReportCharts.roundTick(51)});
    }
}
