package dev.float8j.runtime.cuda;

/** No usable GPU or CUDA library was found; the message lists every library name and path tried. */
public final class CudaUnavailableException extends CudaException {
    public CudaUnavailableException(String message) {
        super(message);
    }
}
