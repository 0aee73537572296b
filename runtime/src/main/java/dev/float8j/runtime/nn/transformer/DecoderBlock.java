package dev.float8j.runtime.nn.transformer;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.LinearFactory;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.Ops;
import dev.float8j.runtime.nn.RMSNorm;
import dev.float8j.runtime.nn.SharedInput;
import dev.float8j.runtime.ops.AttentionShape;
import java.util.List;

/** A pre-norm decoder block: h = x + attn(attn_norm(x)), y = h + mlp(mlp_norm(h)). */
public final class DecoderBlock extends Module {
    private final RMSNorm attnNorm;
    private final SelfAttention attn;
    private final RMSNorm mlpNorm;
    private final FeedForward mlp;

    /** name is this block's fully qualified name, e.g. {@code blocks.0}. */
    public DecoderBlock(String name, LlamaConfig config, LinearFactory linears) {
        this.attnNorm = child("attn_norm", new RMSNorm(config.dim(), config.normEps()));
        this.attn = child("attn", new SelfAttention(name + ".attn", config, linears));
        this.mlpNorm = child("mlp_norm", new RMSNorm(config.dim(), config.normEps()));
        this.mlp = child("mlp", new FeedForward(name + ".mlp", config.dim(), config.ffn(), linears));
    }

    /**
     * The block on a residual stream whose last sum may still be pending: the attention norm makes it as it
     * normalizes, and the block's own last sum, y = h + mlp(mlp_norm(h)), comes back pending, for the norm after the
     * block to make (or an add, where y itself is wanted). in's stream stays the caller's and its branch is released;
     * both parts of the result become the caller's. Every intermediate is released once used (the modules keep what
     * backward needs).
     */
    public ResidualSum forward(ResidualSum in, AttentionShape shape) {
        RMSNorm.SumAndNorm x = normed(attnNorm, in);
        Tensor attnOut = Ops.consume(x.y(), branch -> attn.forward(branch, shape));
        RMSNorm.SumAndNorm h = mlpNorm.forwardAdding(x.sum(), attnOut);
        Ops.release(attnOut);
        if (x.sum() != in.stream()) {
            Ops.release(x.sum());  // made here; the norm keeps its view for backward
        }
        Tensor mlpOut = Ops.consume(h.y(), mlp::forward);
        return new ResidualSum(h.sum(), mlpOut);
    }

    /**
     * The sum in stands for and its norm: made in one pass where a branch is pending (the branch is then released),
     * else in's stream itself, which the norm keeps a view of, not a copy (nothing changes the residual stream).
     */
    static RMSNorm.SumAndNorm normed(RMSNorm norm, ResidualSum in) {
        if (in.branch() == null) {
            try (SharedInput shared = SharedInput.of(in.stream())) {
                return new RMSNorm.SumAndNorm(in.stream(), norm.forward(shared));
            }
        }
        RMSNorm.SumAndNorm out = norm.forwardAdding(in.stream(), in.branch());
        Ops.release(in.branch());
        return out;
    }

    /**
     * The residual paths pass the gradient through unchanged; each norm's backward adds its branch's gradient, which
     * it takes as the parts the branch's layers made, to it as it writes dX. gradOutput stays the caller's.
     */
    public Tensor backward(Tensor gradOutput) {
        Tensor dh = normBackward(mlpNorm, mlp.backwardParts(gradOutput), gradOutput);
        Tensor dx = normBackward(attnNorm, attn.backwardParts(dh), dh);
        Ops.release(dh);
        return dx;
    }

    /** residual + the norm's dX for the sum of parts, which are released; residual stays the caller's. */
    private static Tensor normBackward(RMSNorm norm, List<Tensor> parts, Tensor residual) {
        try {
            return norm.backward(parts, residual);
        } finally {
            parts.forEach(Ops::release);
        }
    }
}
