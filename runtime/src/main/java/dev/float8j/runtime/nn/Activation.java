package dev.float8j.runtime.nn;

import dev.float8j.runtime.Tensor;
import java.util.ArrayDeque;
import java.util.Deque;

/** An element-wise nonlinearity with its exact derivative; it saves its input for backward. */
public final class Activation extends Module implements Layer {

    /** The functions on offer. */
    public enum Kind {
        /** max(x, 0). */
        RELU {
            @Override
            float apply(float x) {
                return x > 0 ? x : 0f;
            }

            @Override
            float derivative(float x) {
                return x > 0 ? 1f : 0f;
            }
        },
        /** GELU, tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
        GELU {
            @Override
            float apply(float x) {
                return 0.5f * x * (1 + tanh(inner(x)));
            }

            @Override
            float derivative(float x) {
                float t = tanh(inner(x));
                float dInner = SQRT_2_OVER_PI * (1 + 3 * 0.044715f * x * x);
                return 0.5f * (1 + t) + 0.5f * x * (1 - t * t) * dInner;
            }

            private static float inner(float x) {
                return SQRT_2_OVER_PI * (x + 0.044715f * x * x * x);
            }
        },
        /** SiLU (swish): x·sigmoid(x). */
        SILU {
            @Override
            float apply(float x) {
                return x * sigmoid(x);
            }

            @Override
            float derivative(float x) {
                float s = sigmoid(x);
                return s * (1 + x * (1 - s));
            }
        };

        private static final float SQRT_2_OVER_PI = (float) Math.sqrt(2 / Math.PI);

        /** tanh through one exp (an intrinsic, several times faster than Math.tanh); saturates cleanly for large |u|. */
        static float tanh(float u) {
            if (u > 20f) {
                return 1f;
            }
            if (u < -20f) {
                return -1f;
            }
            float e = (float) Math.exp(2 * u);
            return (e - 1) / (e + 1);
        }

        static float sigmoid(float x) {
            return (float) (1 / (1 + Math.exp(-x)));
        }

        abstract float apply(float x);

        abstract float derivative(float x);
    }

    private final Kind kind;
    private final Deque<Tensor> savedInputs = new ArrayDeque<>();
    private final SingleThreadGuard guard = new SingleThreadGuard(this);

    /** An activation layer applying kind. */
    public Activation(Kind kind) {
        this.kind = kind;
    }

    /** Which function this layer applies. */
    public Kind kind() {
        return kind;
    }

    @Override
    public Tensor forward(Tensor x) {
        guard.enter();
        try {
            float[] out = new float[x.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = kind.apply(x.getFlat(i));
            }
            if (GradMode.isEnabled()) {
                savedInputs.push(x.copy());  // the layer's own copy: the caller may reuse x before backward
            }
            return Tensor.of(out, x.shape());
        } finally {
            guard.exit();
        }
    }

    @Override
    public Tensor backward(Tensor gradOutput) {
        guard.enter();
        try {
            if (savedInputs.isEmpty()) {
                throw new IllegalStateException(this + ": backward called without a matching forward");
            }
            Tensor x = savedInputs.peek();
            if (gradOutput.size() != x.size()) {
                throw new IllegalArgumentException(this + ": gradient of " + gradOutput + " does not match the input " + x);
            }
            float[] out = new float[x.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = gradOutput.getFlat(i) * kind.derivative(x.getFlat(i));
            }
            savedInputs.pop();
            return Tensor.of(out, x.shape());
        } finally {
            guard.exit();
        }
    }


    @Override
    protected void discardOwnSaved() {
        guard.run(savedInputs::clear);
    }

    @Override
    public String toString() {
        return kind + "(" + (name().isEmpty() ? "<root>" : name()) + ")";
    }
}
