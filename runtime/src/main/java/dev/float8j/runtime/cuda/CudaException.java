package dev.float8j.runtime.cuda;

/** A CUDA driver, cuBLASLt or NVRTC call failed; the message carries the library's own error text. */
public class CudaException extends RuntimeException {
    /** CUDA_ERROR_OUT_OF_MEMORY, the one driver status a caller can recover from by freeing memory. */
    static final int OUT_OF_MEMORY = 2;

    private final int driverStatus;

    public CudaException(String message) {
        this(message, 0);
    }

    /** A failed driver call; driverStatus is its CUresult. */
    CudaException(String message, int driverStatus) {
        super(message);
        this.driverStatus = driverStatus;
    }

    /**
     * True if a driver call ran out of device memory. Any other failure (an illegal address a kernel left behind, a
     * lost device) is not helped by freeing memory and must surface as itself.
     */
    public boolean isOutOfMemory() {
        return driverStatus == OUT_OF_MEMORY;
    }
}
