package dev.float8j.runtime.nn;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import java.util.Arrays;

/** A trainable F32 tensor with its gradient, owned by a module. */
public final class Parameter {
    private final Module owner;
    private final String localName;
    private final Tensor value;
    private final Tensor grad;

    Parameter(Module owner, String localName, Tensor initial) {
        if (initial.dtype() != DType.F32) {
            throw new IllegalArgumentException("parameters are F32 master weights; got " + initial.dtype());
        }
        this.owner = owner;
        this.localName = localName;
        this.value = initial;
        this.grad = Tensor.zeros(DType.F32, initial.shape());
    }

    /** The fully qualified name, e.g. {@code blocks.0.mlp.up.weight}. */
    public String name() {
        return owner.qualify(localName);
    }

    public Module owner() {
        return owner;
    }

    public Tensor value() {
        return value;
    }

    public Tensor grad() {
        return grad;
    }

    /** Adds g to the gradient, element by element. */
    public void accumulateGrad(Tensor g) {
        if (!Arrays.equals(g.shape(), value.shape()) && g.size() != value.size()) {
            throw new IllegalArgumentException("gradient of " + name() + " must have shape " + Arrays.toString(value.shape())
                    + ", got " + Arrays.toString(g.shape()));
        }
        float[] acc = grad.data();
        for (int i = 0; i < acc.length; i++) {
            acc[i] += g.getFlat(i);
        }
    }

    public void zeroGrad() {
        Arrays.fill(grad.data(), 0f);
    }

    @Override
    public String toString() {
        return "Parameter(" + name() + ", " + Arrays.toString(value.shape()) + ")";
    }
}
