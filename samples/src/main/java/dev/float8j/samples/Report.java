package dev.float8j.samples;

import dev.float8j.runtime.debug.StatisticsObserver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The demo's report folder: the charts of {@link ReportCharts} (gap.png, final-gap.png, loss.png,
 * loss-second-half.png), results.md and results.csv (final losses, throughput, bytes saved for backward, the 1% target) and
 * fp8-stats.md plus fp8-stats-RECIPE.csv (FP8 statistics of the last steps, by module).
 */
final class Report {
    /** The target: an FP8 run's validation loss within this relative distance of the baseline's. */
    static final double TOLERANCE = 0.01;

    private final String data;
    private final CharModel.Config model;
    private final Trainer.Settings settings;
    private final String backend;
    private final List<RunResult> runs;

    Report(String data, CharModel.Config model, Trainer.Settings settings, String backend, List<RunResult> runs) {
        this.data = data;
        this.model = model;
        this.settings = settings;
        this.backend = backend;
        this.runs = runs;
    }

    void write(Path folder) throws IOException {
        Files.createDirectories(folder);
        Files.writeString(folder.resolve("results.md"), header() + resultsMarkdown());
        Files.writeString(folder.resolve("results.csv"), resultsCsv());
        StringBuilder stats = new StringBuilder("# FP8 statistics of the last steps, latest per site\n\n");
        for (RunResult r : runs) {
            StatisticsObserver s = r.statistics();
            if (s.latest().isEmpty()) {
                continue;
            }
            stats.append("## ").append(r.recipe().id()).append(" (").append(r.recipe().description()).append(")\n\n```\n")
                    .append(s.table()).append("```\n\n");
            Files.writeString(folder.resolve("fp8-stats-" + r.recipe().id() + ".csv"), s.latestCsv());
        }
        Files.writeString(folder.resolve("fp8-stats.md"), stats.toString());
        // charts last: the tables above must survive a machine whose Java cannot draw text
        try {
            new ReportCharts(runs, baseline()).writeAll(folder);
        } catch (RuntimeException | LinkageError | java.awt.AWTError e) {
            System.err.println("float8j demo: loss charts not drawn (" + e.getMessage() + "); the tables are written."
                    + " Headless Java needs fontconfig and a font to draw text, e.g. apt-get install fontconfig fonts-dejavu-core");
        }
    }

    private String header() {
        return String.format(Locale.ROOT, "# float8j demo%n%ndata: %s%n%nmodel: %s, backend: %s%n%nsettings: %s%n%n", data, model,
                backend, settings);
    }

    private RunResult baseline() {
        return runs.stream().filter(r -> !r.recipe().isFp8()).findFirst().orElseThrow();
    }

    /** Relative distance of a run's validation loss from the baseline's; NaN if either loss is NaN. */
    private double gap(RunResult r) {
        return (r.finalValidationLoss() - baseline().finalValidationLoss()) / baseline().finalValidationLoss();
    }

    /** True when the gap is a number within TOLERANCE: a NaN loss, the run's or the baseline's, never is. */
    private boolean withinTolerance(RunResult r) {
        double gap = gap(r);
        return !Double.isNaN(gap) && Math.abs(gap) <= TOLERANCE;
    }

    String resultsMarkdown() {
        StringBuilder sb = new StringBuilder();
        sb.append("| run | description | train loss | val loss | vs hp | within 1% | tokens/s | saved for backward | time |\n");
        sb.append("|---|---|---|---|---|---|---|---|---|\n");
        RunResult hp = baseline();
        for (RunResult r : runs) {
            boolean fp8 = r.recipe().isFp8();
            sb.append(String.format(Locale.ROOT, "| %s | %s | %.4f | %.4f | %s | %s | %,.0f | %s | %.0f s |%n", r.recipe().id(),
                    r.recipe().description(), r.finalTrainLoss(), r.finalValidationLoss(),
                    fp8 ? String.format(Locale.ROOT, "%+.2f%%", 100 * gap(r)) : "baseline",
                    fp8 ? (withinTolerance(r) ? "yes" : "**NO**") : "-", r.tokensPerSecond(),
                    bytes(r.savedBytes()) + (r == hp ? "" : String.format(Locale.ROOT, " (%.0f%%)",
                            100.0 * r.savedBytes() / hp.savedBytes())), r.trainSeconds()));
        }
        List<RunResult> missed = runs.stream().filter(r -> r.recipe().isFp8() && !withinTolerance(r)).toList();
        sb.append('\n');
        if (missed.isEmpty()) {
            sb.append("Every FP8 run's validation loss is within 1% (relative) of the high-precision baseline.\n");
        } else {
            for (RunResult r : missed) {
                if (Double.isNaN(gap(r))) {
                    sb.append(String.format(Locale.ROOT, "NOT within 1%%: %s cannot be compared, a validation loss is NaN "
                            + "(%s %s, baseline %s).%n", r.recipe().id(), r.recipe().id(), r.finalValidationLoss(),
                            hp.finalValidationLoss()));
                } else {
                    sb.append(String.format(Locale.ROOT, "NOT within 1%%: %s is %+.2f%% from the baseline.%n",
                            r.recipe().id(), 100 * gap(r)));
                }
            }
        }
        return sb.toString();
    }

    private String resultsCsv() {
        StringBuilder sb = new StringBuilder("run,final_train_loss,final_val_loss,val_gap_relative,tokens_per_second,saved_bytes,"
                + "train_seconds\n");
        for (RunResult r : runs) {
            sb.append(String.format(Locale.ROOT, "%s,%s,%s,%s,%.1f,%d,%.2f%n", r.recipe().id(), r.finalTrainLoss(),
                    r.finalValidationLoss(), gap(r), r.tokensPerSecond(), r.savedBytes(), r.trainSeconds()));
        }
        return sb.toString();
    }

    private static String bytes(long n) {
        return n >= 1 << 20 ? String.format(Locale.ROOT, "%.2f MiB", n / 1048576.0)
                : String.format(Locale.ROOT, "%.1f KiB", n / 1024.0);
    }
}
