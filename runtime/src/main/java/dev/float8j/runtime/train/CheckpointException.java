package dev.float8j.runtime.train;

/** A checkpoint that cannot be read or does not fit the model; nothing was loaded. */
public final class CheckpointException extends RuntimeException {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
