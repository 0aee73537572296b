package dev.float8j.runtime.ops;

import dev.float8j.runtime.Tensor;

/** The gradients of attention's three inputs. */
public record AttentionGrads(Tensor dQ, Tensor dK, Tensor dV) {
}
