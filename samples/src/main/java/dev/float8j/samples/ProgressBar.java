package dev.float8j.samples;

import java.io.PrintStream;
import java.util.Locale;

/** A one-line progress bar with loss and throughput, redrawn at most a few times a second. */
final class ProgressBar {
    private static final int WIDTH = 30;
    private final PrintStream out;
    private final String label;
    private final long total;
    private long lastDrawn;

    ProgressBar(PrintStream out, String label, long total) {
        this.out = out;
        this.label = label;
        this.total = total;
    }

    void update(long done, float loss, double tokensPerSecond) {
        long now = System.nanoTime();
        if (done < total && now - lastDrawn < 250_000_000L) {
            return;
        }
        lastDrawn = now;
        int filled = (int) (WIDTH * done / total);
        out.printf(Locale.ROOT, "\r%-22s [%s%s] %4d/%d  loss %.4f  %,8.0f tok/s", label, "#".repeat(filled),
                ".".repeat(WIDTH - filled), done, total, loss, tokensPerSecond);
        out.flush();
    }

    void finish(String summary) {
        out.printf(Locale.ROOT, "  %s%n", summary);
    }
}
