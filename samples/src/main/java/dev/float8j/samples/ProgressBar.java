package dev.float8j.samples;

import java.io.PrintStream;
import java.util.Locale;

/**
 * A progress line with loss and throughput. On a terminal it is one line redrawn in place (carriage return) at most a
 * few times a second; when the output is not a terminal, or CI=true, it prints a plain line at every tenth of the run
 * instead, so logs hold no control characters.
 */
final class ProgressBar {
    private static final int WIDTH = 30;
    private final PrintStream out;
    private final String label;
    private final long total;
    private final boolean redraw;
    private long lastDrawn;
    private long lastTenth = -1;

    ProgressBar(PrintStream out, String label, long total) {
        this(out, label, total, isInteractive());
    }

    ProgressBar(PrintStream out, String label, long total, boolean redraw) {
        this.out = out;
        this.label = label;
        this.total = total;
        this.redraw = redraw;
    }

    /** True when standard output is a terminal and CI is not set to true. */
    static boolean isInteractive() {
        java.io.Console console = System.console();
        return console != null && console.isTerminal() && !"true".equalsIgnoreCase(System.getenv("CI"));
    }

    void update(long done, float loss, double tokensPerSecond) {
        if (redraw) {
            long now = System.nanoTime();
            if (done < total && now - lastDrawn < 250_000_000L) {
                return;
            }
            lastDrawn = now;
            out.print("\r" + line(done, loss, tokensPerSecond));
            out.flush();
            return;
        }
        long tenth = done * 10 / total;
        if (tenth != lastTenth && (done * 10) % total < 10) {
            lastTenth = tenth;
            out.println(line(done, loss, tokensPerSecond));
        }
    }

    private String line(long done, float loss, double tokensPerSecond) {
        int filled = (int) (WIDTH * done / total);
        return String.format(Locale.ROOT, "%-22s [%s%s] %4d/%d  loss %.4f  %,8.0f tok/s", label, "#".repeat(filled),
                ".".repeat(WIDTH - filled), done, total, loss, tokensPerSecond);
    }

    void finish(String summary) {
        if (redraw) {
            out.printf(Locale.ROOT, "  %s%n", summary);
        } else {
            out.printf(Locale.ROOT, "%-22s %s%n", label, summary);
        }
    }
}
