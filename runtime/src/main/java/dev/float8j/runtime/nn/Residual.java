package dev.float8j.runtime.nn;

import dev.float8j.runtime.Tensor;
import java.util.Arrays;

/** y = x + body(x): the skip connection of a pre-norm transformer block. The body is the child "body". */
public final class Residual extends Module implements Layer {
    private final Layer body;

    public Residual(Layer body) {
        if (!(body instanceof Module m)) {
            throw new IllegalArgumentException("the body of a Residual must be a module");
        }
        child("body", m);
        this.body = body;
    }

    public Layer body() {
        return body;
    }

    @Override
    public Tensor forward(Tensor x) {
        Tensor fx = body.forward(x);
        if (!Arrays.equals(fx.shape(), x.shape())) {
            throw new IllegalArgumentException(this + ": the body maps " + Arrays.toString(x.shape()) + " to "
                    + Arrays.toString(fx.shape()) + "; a residual needs the same shape");
        }
        float[] out = fx.toFloatArray();
        for (int i = 0; i < out.length; i++) {
            out[i] += x.getFlat(i);
        }
        return Tensor.of(out, x.shape());
    }

    @Override
    public Tensor backward(Tensor gradOutput) {
        Tensor throughBody = body.backward(gradOutput);
        float[] out = throughBody.toFloatArray();
        for (int i = 0; i < out.length; i++) {
            out[i] += gradOutput.getFlat(i);
        }
        return Tensor.of(out, gradOutput.shape());
    }
}
