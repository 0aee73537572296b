package dev.float8j.samples;

/**
 * Tokens per second of training steps (evaluation excluded), counted one way for the progress bar and the results
 * table: over the steps from the middle of the run on once it gets there, so that JIT warm-up does not count, and
 * over every step so far before that. At the end of a run both show the same number.
 */
final class Throughput {
    private final long steps;
    private final long tokensPerStep;
    private long done;
    private long nanos;
    private long laterHalfSteps;
    private long laterHalfNanos;

    Throughput(long steps, long tokensPerStep) {
        this.steps = steps;
        this.tokensPerStep = tokensPerStep;
    }

    /** Counts one training step that took stepNanos. */
    void add(long stepNanos) {
        if (done >= steps / 2) {
            laterHalfSteps++;
            laterHalfNanos += stepNanos;
        }
        done++;
        nanos += stepNanos;
    }

    double tokensPerSecond() {
        if (laterHalfSteps > 0) {
            return laterHalfSteps * (double) tokensPerStep / (laterHalfNanos / 1e9);
        }
        return done == 0 ? 0 : done * (double) tokensPerStep / (nanos / 1e9);
    }

    /** Seconds of every training step so far. */
    double seconds() {
        return nanos / 1e9;
    }
}
