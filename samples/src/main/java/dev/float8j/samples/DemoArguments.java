package dev.float8j.samples;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import picocli.CommandLine;

/**
 * The demo's checks of its arguments, all made before any training: each size and count against its range, the
 * text against the context, the sizes together against Java's array limit and the heap, and the output folder for
 * writing. A failure is a {@link CommandLine.ParameterException} naming the option, its value and the limit.
 */
final class DemoArguments {
    static final int MAX_STEPS = 1_000_000;
    static final int MAX_BATCH = 65_536;
    static final int MAX_CONTEXT = 4_096;
    static final int MAX_WIDTH = 65_536;
    static final int MAX_HIDDEN = 262_144;
    static final int MAX_BLOCKS = 1_000;
    static final int MAX_EVAL_WINDOWS = 1_000_000;
    static final double MAX_LEARNING_RATE = 1;
    /** The most elements of a Java array (and so of a Tensor), as ArrayList and the JDK allocate. */
    static final long MAX_ELEMENTS = Integer.MAX_VALUE - 8;
    /** Evaluation runs at least this many windows at a time (see {@link Trainer#validationLoss}). */
    private static final int EVAL_CHUNK = 256;
    private static final double GIB = 1024.0 * 1024 * 1024;

    private final CommandLine commandLine;

    DemoArguments(CommandLine commandLine) {
        this.commandLine = commandLine;
    }

    /** Each option against its own range. */
    void checkRanges(Demo d) {
        range("--steps", d.steps, 1, MAX_STEPS);
        range("--batch", d.batch, 1, MAX_BATCH);
        range("--context", d.context, 1, MAX_CONTEXT);
        range("--width", d.width, 1, MAX_WIDTH);
        range("--hidden", d.hidden, 1, MAX_HIDDEN);
        range("--blocks", d.blocks, 0, MAX_BLOCKS);
        range("--eval-windows", d.evalWindows, 1, MAX_EVAL_WINDOWS);
        range("--stats-steps", d.statsSteps, 0, MAX_STEPS);
        if (!(d.learningRate > 0 && d.learningRate <= MAX_LEARNING_RATE)) {
            throw error("--lr %s is out of range: it must be above 0 and at most %s", d.learningRate, MAX_LEARNING_RATE);
        }
    }

    /** Both parts of the text must hold more than one context: training draws windows from one, evaluation from the other. */
    void checkText(TextCorpus corpus, int context) {
        int training = corpus.trainEnd();
        int validation = corpus.length() - corpus.trainEnd();
        if (context >= validation) {
            throw error("--context %d is too long for the text: its validation part (the last 10%%) has %d characters, "
                    + "and each window needs context + 1", context, validation);
        }
        if (context >= training) {
            throw error("--context %d is too long for the text: its training part has %d characters", context, training);
        }
    }

    /**
     * The model's sizes and the batch together: no tensor may exceed a Java array, and parameters, optimizer state and
     * activations must fit in the heap (a rough, generous estimate: it refuses only runs that could not finish).
     */
    void checkSizes(CharModel.Config m, int batch, long heapBytes) {
        long rows = Math.max(batch, EVAL_CHUNK);
        long inputs = (long) m.context() * m.embedDim();
        elements("--batch", batch, "--hidden", m.hidden(), rows * m.hidden(), rows, m.hidden());
        elements("--batch", batch, "--width", m.width(), rows * m.width(), rows, m.width());
        elements("--batch", batch, "--context", m.context(), rows * inputs, rows, inputs);
        elements("--width", m.width(), "--hidden", m.hidden(), (long) m.width() * m.hidden(), m.hidden(), m.width());
        elements("--context", m.context(), "--width", m.width(), inputs * m.width(), m.width(), inputs);
        long parameters = (long) m.vocabulary() * m.embedDim() + inputs * m.width() + m.width()
                + m.blocks() * (2L * m.width() * m.hidden() + m.hidden() + 2L * m.width()) + m.width()
                + (long) m.width() * m.vocabulary() + m.vocabulary();
        // weights, gradients and AdamW's two moments in float32; per row of the batch, every layer's input and output
        // and their gradients
        long perRow = 2 * inputs + 4L * m.width() + m.blocks() * (4L * m.width() + 3L * m.hidden()) + 3L * m.vocabulary();
        long bytes = 16 * parameters + 8 * rows * perRow;
        if (bytes > heapBytes) {
            throw error("the model (%,d parameters) with batches of %d rows needs about %.1f GiB, more than the %.1f GiB "
                    + "this Java may use (-Xmx): lower --width, --hidden, --blocks, --batch or --context, or raise -Xmx",
                    parameters, rows, bytes / GIB, heapBytes / GIB);
        }
    }

    /** Creates the report's parent folder and proves it writable with a file made and deleted there. */
    void checkOutput(Path out) {
        try {
            Files.createDirectories(out);
            Files.delete(Files.createTempFile(out, ".float8j-demo-write-check-", ".tmp"));
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            String why = e instanceof FileSystemException f && f.getReason() != null ? f.getReason()
                    : e.getClass().getSimpleName();
            throw error("--out %s: cannot write the report there (%s)", out, why);
        }
    }

    private void range(String option, long value, long min, long max) {
        if (value < min || value > max) {
            throw error("%s %d is out of range: it must be between %,d and %,d", option, value, min, max);
        }
    }

    private void elements(String option, long value, String otherOption, long otherValue, long elements, long rows,
            long cols) {
        if (elements > MAX_ELEMENTS) {
            throw error("%s %d and %s %d make a [%d, %d] tensor of %,d elements, but a Java array holds at most %,d: "
                    + "lower them", option, value, otherOption, otherValue, rows, cols, elements, MAX_ELEMENTS);
        }
    }

    private CommandLine.ParameterException error(String format, Object... args) {
        return new CommandLine.ParameterException(commandLine, String.format(Locale.ROOT, format, args));
    }
}
