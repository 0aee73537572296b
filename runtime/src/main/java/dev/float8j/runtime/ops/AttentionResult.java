package dev.float8j.runtime.ops;

import dev.float8j.runtime.Tensor;

/** Attention's output and the log-sum-exp of each query row's scores ([batch * heads, seq] F32). */
public record AttentionResult(Tensor out, Tensor logSumExp) {
}
