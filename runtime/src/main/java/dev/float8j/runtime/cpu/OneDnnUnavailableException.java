package dev.float8j.runtime.cpu;

/** oneDNN cannot be loaded or bound; the message names what was tried and how to provide it. */
public final class OneDnnUnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    OneDnnUnavailableException(String message) {
        super(message);
    }

    OneDnnUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
