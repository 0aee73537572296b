package dev.float8j.runtime.ops;

import dev.float8j.runtime.Tensor;

/** The mean loss as a [1, 1] F32 tensor where the logits live, and the gradient of the logits. */
public record LossResult(Tensor loss, Tensor dLogits) {
}
