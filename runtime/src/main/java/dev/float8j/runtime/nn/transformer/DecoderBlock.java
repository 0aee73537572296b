package dev.float8j.runtime.nn.transformer;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.LinearFactory;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.Ops;
import dev.float8j.runtime.nn.RMSNorm;
import dev.float8j.runtime.ops.AttentionShape;
import dev.float8j.runtime.ops.ModelOps;

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

    public Tensor forward(Tensor x, AttentionShape shape) {
        ModelOps ops = Ops.where(x);
        Tensor h = ops.add(x, attn.forward(attnNorm.forward(x), shape));
        return ops.add(h, mlp.forward(mlpNorm.forward(h)));
    }

    /** The residual paths pass the gradient through unchanged, beside each branch's. */
    public Tensor backward(Tensor gradOutput) {
        ModelOps ops = Ops.where(gradOutput);
        Tensor dh = ops.add(gradOutput, mlpNorm.backward(mlp.backward(gradOutput)));
        return ops.add(dh, attnNorm.backward(attn.backward(dh)));
    }
}
