package dev.float8j.runtime.ops;

import dev.float8j.runtime.Tensor;

/** A normalization's output and the inverse rms of each row ([rows, 1] F32), saved for backward. */
public record NormResult(Tensor y, Tensor inverseRms) {
}
