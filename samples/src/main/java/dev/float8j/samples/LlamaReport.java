package dev.float8j.samples;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The report of {@code demo --model llama}: loss-gap.png (each FP8 run's training loss minus the baseline's, step by
 * step, as a moving average, relative to the baseline), loss.png (every run's smoothed training loss), results.md and
 * results.csv (final losses, the gap, throughput).
 */
final class LlamaReport {
    private static final int SMOOTHING = 20;

    /** One training run: the loss of every step, the final validation loss, throughput over the later half. */
    record Run(TrainingRecipe recipe, float[] losses, float validationLoss, double tokensPerSecond, double seconds) {
        /** Mean training loss over the last SMOOTHING steps. */
        double finalTrainLoss() {
            int tail = Math.min(SMOOTHING, losses.length);
            double sum = 0;
            for (int i = losses.length - tail; i < losses.length; i++) {
                sum += losses[i];
            }
            return sum / tail;
        }
    }

    private final String header;
    private final List<Run> runs;

    LlamaReport(String header, List<Run> runs) {
        this.header = header;
        this.runs = runs;
    }

    private Run baseline() {
        return runs.stream().filter(r -> !r.recipe().isFp8()).findFirst().orElseThrow();
    }

    private double gap(Run r) {
        return (r.validationLoss() - baseline().validationLoss()) / baseline().validationLoss();
    }

    void write(Path folder) throws IOException {
        Files.createDirectories(folder);
        Files.writeString(folder.resolve("results.md"), "# float8j demo --model llama\n\n" + header + "\n\n" + resultsMarkdown());
        StringBuilder csv = new StringBuilder("run,final_train_loss,val_loss,val_gap_relative,tokens_per_second,seconds\n");
        for (Run r : runs) {
            csv.append(String.format(Locale.ROOT, "%s,%.5f,%.5f,%.5f,%.1f,%.2f%n", r.recipe().id(), r.finalTrainLoss(),
                    r.validationLoss(), gap(r), r.tokensPerSecond(), r.seconds()));
        }
        Files.writeString(folder.resolve("results.csv"), csv.toString());
        try {
            writeGapChart(folder.resolve("loss-gap.png"));
            writeLossChart(folder.resolve("loss.png"));
        } catch (RuntimeException | LinkageError | java.awt.AWTError e) {
            System.err.println("float8j demo: charts not drawn (" + e.getMessage() + "); the tables are written."
                    + " Headless Java needs fontconfig and a font to draw text, e.g. apt-get install fontconfig fonts-dejavu-core");
        }
    }

    String resultsMarkdown() {
        StringBuilder sb = new StringBuilder("| run | description | train loss | val loss | vs baseline | tokens/s | time |\n"
                + "|---|---|---|---|---|---|---|\n");
        for (Run r : runs) {
            sb.append(String.format(Locale.ROOT, "| %s | %s | %.4f | %.4f | %s | %,.0f | %.0f s |%n", r.recipe().id(),
                    r.recipe().isFp8() ? r.recipe().description() : "baseline, every gemm in high precision",
                    r.finalTrainLoss(), r.validationLoss(),
                    r.recipe().isFp8() ? String.format(Locale.ROOT, "%+.2f%%", 100 * gap(r)) : "-", r.tokensPerSecond(),
                    r.seconds()));
        }
        return sb.toString();
    }

    /** Moving average of the last SMOOTHING values at each step. */
    private static double[] smoothed(float[] losses) {
        double[] out = new double[losses.length];
        double window = 0;
        for (int i = 0; i < losses.length; i++) {
            window += losses[i];
            if (i >= SMOOTHING) {
                window -= losses[i - SMOOTHING];
            }
            out[i] = window / Math.min(i + 1, SMOOTHING);
        }
        return out;
    }

    private static double[] steps(int n) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = i + 1;
        }
        return x;
    }

    private void writeGapChart(Path file) throws IOException {
        XYChart chart = new XYChartBuilder().width(1000).height(650)
                .title("float8j llama demo: training loss gap to the baseline (moving average of " + SMOOTHING + " steps)")
                .xAxisTitle("step").yAxisTitle("(FP8 loss - baseline loss) / baseline loss, %").build();
        double[] base = smoothed(baseline().losses());
        for (Run r : runs) {
            if (!r.recipe().isFp8()) {
                continue;
            }
            double[] own = smoothed(r.losses());
            double[] gap = new double[own.length];
            for (int i = 0; i < gap.length; i++) {
                gap[i] = 100 * (own[i] - base[i]) / base[i];
            }
            chart.addSeries(r.recipe().id(), steps(gap.length), gap).setMarker(SeriesMarkers.NONE);
        }
        double[] zero = new double[base.length];
        XYSeries line = chart.addSeries("baseline", steps(zero.length), zero);
        line.setMarker(SeriesMarkers.NONE);
        line.setLineColor(java.awt.Color.BLACK);
        BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
    }

    private void writeLossChart(Path file) throws IOException {
        XYChart chart = new XYChartBuilder().width(1000).height(650)
                .title("float8j llama demo: training loss (moving average of " + SMOOTHING + " steps)")
                .xAxisTitle("step").yAxisTitle("cross-entropy (nats/byte)").build();
        for (Run r : runs) {
            chart.addSeries(r.recipe().id(), steps(r.losses().length), smoothed(r.losses())).setMarker(SeriesMarkers.NONE);
        }
        BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
    }
}
