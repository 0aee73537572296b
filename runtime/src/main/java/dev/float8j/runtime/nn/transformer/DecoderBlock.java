package dev.float8j.runtime.nn.transformer;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.LinearFactory;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.Ops;
import dev.float8j.runtime.nn.RMSNorm;
import dev.float8j.runtime.nn.SharedInput;
import dev.float8j.runtime.ops.AttentionShape;
import java.util.List;
import java.util.function.UnaryOperator;

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

    /** x stays the caller's; every intermediate is released once used (the modules keep what backward needs). */
    public Tensor forward(Tensor x, AttentionShape shape) {
        Tensor h = residual(x, normed(attnNorm, x), branch -> attn.forward(branch, shape));
        Tensor y = residual(h, normed(mlpNorm, h), mlp::forward);
        Ops.release(h);
        return y;
    }

    /** norm(x); nothing changes the residual stream in place, so the norm keeps a view of it, not a copy. */
    static Tensor normed(RMSNorm norm, Tensor x) {
        try (SharedInput in = SharedInput.of(x)) {
            return norm.forward(in);
        }
    }

    /** stream + branch(input), a residual connection; input and branch's result are released, stream stays. */
    private static Tensor residual(Tensor stream, Tensor input, UnaryOperator<Tensor> branch) {
        Tensor out = Ops.consume(input, branch);
        Tensor sum = Ops.where(stream).add(stream, out);
        Ops.release(out);
        return sum;
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
