package dev.float8j.runtime.backend;

import dev.float8j.runtime.Float8Tensor;

/**
 * What {@link Backend#quantizeWithScale} gives back: the tensor quantized with the scale it was handed, and the
 * largest magnitude of the input, read in the same pass (the amax a delayed-scaling history records).
 */
public record ScaledCast(Float8Tensor quantized, float amax) {
}
