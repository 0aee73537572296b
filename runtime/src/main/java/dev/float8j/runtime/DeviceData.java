package dev.float8j.runtime;

/**
 * The memory of a {@link Tensor} or {@link dev.float8j.runtime.Float8Tensor} that lives on an accelerator.
 * Only the backend that made it reads it; everyone else sees shape, dtype and spec, and copies the tensor to the
 * host with {@link Backend#toHost(Tensor)} to look at its elements.
 */
public interface DeviceData {
    /** Where the data lives, in words, e.g. {@code cuda (NVIDIA H100 80GB HBM3)}. */
    String device();
}
