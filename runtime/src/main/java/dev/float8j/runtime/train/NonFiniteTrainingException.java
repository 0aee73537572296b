package dev.float8j.runtime.train;

/** A training step met a NaN or Inf loss or gradient; the message names the step and where it was found. */
public final class NonFiniteTrainingException extends ArithmeticException {
    private final long step;

    public NonFiniteTrainingException(long step, String problem) {
        super("step " + step + ": " + problem);
        this.step = step;
    }

    /** The step (counted from 0) that met it. */
    public long step() {
        return step;
    }
}
