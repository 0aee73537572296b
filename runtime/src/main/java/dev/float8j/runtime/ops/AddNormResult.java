package dev.float8j.runtime.ops;

import dev.float8j.runtime.Tensor;

/**
 * What {@link ModelOps#addRmsNorm} makes: the residual connection's sum (the new residual stream) and the norm of
 * that sum.
 */
public record AddNormResult(Tensor sum, NormResult norm) {
}
