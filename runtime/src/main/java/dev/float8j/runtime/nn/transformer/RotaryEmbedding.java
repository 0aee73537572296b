package dev.float8j.runtime.nn.transformer;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.Ops;
import dev.float8j.runtime.ops.AttentionShape;

/**
 * Rotary position embedding of queries or keys: each head's pairs (i, i + headDim/2) rotated by the position's
 * angle. It has no parameters and saves nothing: a rotation's backward is the rotation back, which the attention
 * backward applies to dQ and dK.
 */
public final class RotaryEmbedding extends Module {
    private final float theta;

    public RotaryEmbedding(float theta) {
        this.theta = theta;
    }

    /** x [batch · seq, heads · headDim] rotated. */
    public Tensor forward(Tensor x, AttentionShape shape, int heads) {
        return Ops.where(x).rope(x, shape, heads, theta, false);
    }

    /**
     * The angles' base. The backward (the rotation back) is the attention backward's to make
     * ({@link dev.float8j.runtime.ops.ModelOps#attentionBackwardUnrotated}), which may do it as it writes dQ.
     */
    public float theta() {
        return theta;
    }
}
