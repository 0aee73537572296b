package dev.float8j.runtime.train;

/** A checkpoint that cannot be read or does not fit the model; nothing was loaded. */
public final class CheckpointException extends RuntimeException {
    /** A checkpoint or weights file that is damaged or does not fit, with the reason. */
    public CheckpointException(String message) {
        super(message);
    }

    /** The same, with the error that revealed it. */
    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
