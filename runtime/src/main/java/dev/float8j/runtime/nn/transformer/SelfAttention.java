package dev.float8j.runtime.nn.transformer;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.GradMode;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.LinearFactory;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.Ops;
import dev.float8j.runtime.nn.SharedInput;
import dev.float8j.runtime.ops.AttentionGrads;
import dev.float8j.runtime.ops.AttentionResult;
import dev.float8j.runtime.ops.AttentionShape;
import dev.float8j.runtime.ops.ModelOps;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;

/**
 * Causal self-attention with grouped-query heads: projections q, k, v (k and v with kvHeads heads), rotary
 * embedding of q and k, fused attention through {@link ModelOps#attention}, and the output projection o.
 */
public final class SelfAttention extends Module {
    private final LlamaConfig config;
    private final Linear q;
    private final Linear k;
    private final Linear v;
    private final Linear o;
    private final RotaryEmbedding rope;
    private final Deque<Saved> saved = new ArrayDeque<>();

    /** What backward needs: the rotated queries and keys, the values, the attention's output and log-sum-exp. */
    private record Saved(Tensor q, Tensor k, Tensor v, AttentionResult attention, AttentionShape shape) {
    }

    /** name is this module's fully qualified name, so the factory sees e.g. {@code blocks.0.attn.q}. */
    public SelfAttention(String name, LlamaConfig config, LinearFactory linears) {
        this.config = config;
        this.q = child("q", linears.create(name + ".q", config.dim(), config.dim()));
        this.k = child("k", linears.create(name + ".k", config.dim(), config.kvDim()));
        this.v = child("v", linears.create(name + ".v", config.dim(), config.kvDim()));
        this.o = child("o", linears.create(name + ".o", config.dim(), config.dim()));
        this.rope = child("rope", new RotaryEmbedding(config.ropeTheta()));
    }

    /** x [batch · seq, dim] to [batch · seq, dim]; x stays the caller's. */
    public Tensor forward(Tensor x, AttentionShape shape) {
        ModelOps ops = Ops.where(x);
        Tensor queries;
        Tensor keys;
        Tensor values;
        // the three projections read one x: each FP8 cast of it is made once, a high-precision save is a view
        try (SharedInput in = SharedInput.of(x)) {
            queries = rotated(q.forward(in), shape, config.heads());
            keys = rotated(k.forward(in), shape, config.kvHeads());
            values = v.forward(in);
        }
        AttentionResult a = ops.attention(queries, keys, values, shape);
        Tensor y;
        try (SharedInput out = SharedInput.of(a.out())) {
            y = o.forward(out);
        }
        if (GradMode.isEnabled()) {
            saved.push(new Saved(queries, keys, values, a, shape));
        } else {
            Ops.release(queries, keys, values, a.out(), a.logSumExp());
        }
        return y;
    }

    /** The rotary embedding of a projection, which is released. */
    private Tensor rotated(Tensor projected, AttentionShape shape, int heads) {
        return Ops.consume(projected, p -> rope.forward(p, shape, heads));
    }

    /** dX for dY: the sum of {@link #backwardParts}. */
    public Tensor backward(Tensor gradOutput) {
        return Ops.sum(backwardParts(gradOutput));
    }

    /**
     * dX as the parts q, k and v each make, [dX_q, dX_k, dX_v], which become the caller's: their sum is dX, and a
     * pre-norm block's norm adds them as it reads them ({@link dev.float8j.runtime.nn.RMSNorm#backward(List, Tensor)})
     * instead of by two adds, which read and write the whole gradient twice.
     */
    public List<Tensor> backwardParts(Tensor gradOutput) {
        if (saved.isEmpty()) {
            throw new IllegalStateException(this + ": backward called without a matching forward");
        }
        Saved s = saved.pop();
        ModelOps ops = Ops.where(gradOutput);
        Tensor dOut = o.backward(gradOutput);
        // dQ and dK with respect to the projections, before the rotary embedding
        AttentionGrads g = ops.attentionBackwardUnrotated(dOut, s.q(), s.k(), s.v(), s.attention(), s.shape(),
                rope.theta());
        Ops.release(dOut, s.q(), s.k(), s.v(), s.attention().out(), s.attention().logSumExp());
        Tensor dq = Ops.consume(g.dQ(), q::backward);
        Tensor dk = Ops.consume(g.dK(), k::backward);
        Tensor dv = Ops.consume(g.dV(), v::backward);
        return List.of(dq, dk, dv);
    }

    @Override
    protected void discardOwnSaved() {
        saved.clear();
    }
}
