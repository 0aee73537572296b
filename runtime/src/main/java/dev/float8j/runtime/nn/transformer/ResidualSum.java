package dev.float8j.runtime.nn.transformer;

import dev.float8j.runtime.Tensor;
import java.util.Objects;

/**
 * The residual stream as a decoder block hands it on: stream + branch, a residual connection's sum not yet made
 * (branch null: stream itself). The norm that reads it next makes the sum as it normalizes
 * ({@link dev.float8j.runtime.nn.RMSNorm#forwardAdding}): one pass, where an add would write the sum and the norm
 * read it back.
 */
public record ResidualSum(Tensor stream, Tensor branch) {
    public ResidualSum {
        Objects.requireNonNull(stream, "a residual sum needs its stream (the branch may be null)");
    }
}
