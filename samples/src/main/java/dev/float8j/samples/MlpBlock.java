package dev.float8j.samples;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.Activation;
import dev.float8j.runtime.nn.Layer;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.RMSNorm;

/** A pre-norm residual feed-forward block: y = x + down(act(up(norm(x)))), the MLP half of a transformer block. */
public final class MlpBlock extends Module implements Layer {
    private final RMSNorm norm;
    private Linear up;
    private final Activation act;
    private Linear down;

    /** name is the block's own module name, used to name its layers for the factory (e.g. blocks.0.up). */
    public MlpBlock(String name, int width, int hidden, Activation.Kind activation, LinearFactory linears) {
        this.norm = child("norm", new RMSNorm(width));
        this.up = child("up", linears.create(name + ".up", width, hidden));
        this.act = child("act", new Activation(activation));
        this.down = child("down", linears.create(name + ".down", hidden, width));
    }

    @Override
    public Tensor forward(Tensor x) {
        return sum(down.forward(act.forward(up.forward(norm.forward(x)))), x);
    }

    @Override
    public Tensor backward(Tensor gradOutput) {
        // the residual path passes the gradient through unchanged
        return sum(norm.backward(up.backward(act.backward(down.backward(gradOutput)))), gradOutput);
    }

    /** The residual sum branch + skip, element by element, shaped like skip. */
    private static Tensor sum(Tensor branch, Tensor skip) {
        float[] out = branch.toFloatArray();
        for (int i = 0; i < out.length; i++) {
            out[i] += skip.getFlat(i);
        }
        return Tensor.of(out, skip.shape());
    }
}
