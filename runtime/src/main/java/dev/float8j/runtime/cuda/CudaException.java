package dev.float8j.runtime.cuda;

/** A CUDA driver, cuBLASLt or NVRTC call failed; the message carries the library's own error text. */
public class CudaException extends RuntimeException {
    public CudaException(String message) {
        super(message);
    }
}
