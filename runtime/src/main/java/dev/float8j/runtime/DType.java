package dev.float8j.runtime;

/** Element types of high-precision tensors. */
public enum DType {
    /** IEEE float32. */
    F32(4),
    /** bfloat16 storage; arithmetic happens in float32. */
    BF16(2);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }
}
