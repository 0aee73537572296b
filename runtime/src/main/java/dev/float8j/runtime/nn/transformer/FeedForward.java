package dev.float8j.runtime.nn.transformer;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.GradMode;
import dev.float8j.runtime.nn.Layer;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.LinearFactory;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.Ops;
import dev.float8j.runtime.nn.SharedInput;
import dev.float8j.runtime.ops.ModelOps;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;

/** The SwiGLU feed-forward: down(silu(gate(x)) · up(x)). */
public final class FeedForward extends Module implements Layer {
    private final Linear gate;
    private final Linear up;
    private final Linear down;
    private final Deque<Tensor[]> saved = new ArrayDeque<>();

    /** name is this module's fully qualified name, so the factory sees e.g. {@code blocks.0.mlp.gate}. */
    public FeedForward(String name, int dim, int hidden, LinearFactory linears) {
        this.gate = child("gate", linears.create(name + ".gate", dim, hidden));
        this.up = child("up", linears.create(name + ".up", dim, hidden));
        this.down = child("down", linears.create(name + ".down", hidden, dim));
    }

    /** x stays the caller's. */
    @Override
    public Tensor forward(Tensor x) {
        Tensor g;
        Tensor u;
        // gate and up read one x: each FP8 cast of it is made once, a high-precision save is a view
        try (SharedInput in = SharedInput.of(x)) {
            g = gate.forward(in);
            u = up.forward(in);
        }
        Tensor activated = Ops.where(x).swiglu(g, u);
        Tensor y;
        try (SharedInput in = SharedInput.of(activated)) {
            y = down.forward(in);
        }
        Ops.release(activated);
        if (GradMode.isEnabled()) {
            saved.push(new Tensor[] {g, u});
        } else {
            Ops.release(g, u);
        }
        return y;
    }

    /** dX for dY: the sum of {@link #backwardParts}. */
    @Override
    public Tensor backward(Tensor gradOutput) {
        return Ops.sum(backwardParts(gradOutput));
    }

    /**
     * dX as the parts gate and up each make, [dX_gate, dX_up], which become the caller's: their sum is dX, and a
     * pre-norm block's norm adds them as it reads them ({@link dev.float8j.runtime.nn.RMSNorm#backward(List, Tensor)})
     * instead of by an add.
     */
    public List<Tensor> backwardParts(Tensor gradOutput) {
        if (saved.isEmpty()) {
            throw new IllegalStateException(this + ": backward called without a matching forward");
        }
        Tensor[] s = saved.pop();
        ModelOps ops = Ops.where(gradOutput);
        Tensor dActivated = down.backward(gradOutput);
        Tensor[] d = ops.swigluBackward(dActivated, s[0], s[1]);
        Ops.release(dActivated, s[0], s[1]);
        Tensor dUp = Ops.consume(d[1], up::backward);
        Tensor dGate = Ops.consume(d[0], gate::backward);
        return List.of(dGate, dUp);
    }

    @Override
    protected void discardOwnSaved() {
        saved.clear();
    }
}
