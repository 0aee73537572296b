package dev.float8j.runtime.nn;

import dev.float8j.runtime.Tensor;
import java.util.ArrayDeque;
import java.util.Deque;

/** An element-wise nonlinearity with its exact derivative; it saves its input for backward. */
public final class Activation extends Module implements Layer {

    /** The functions on offer. */
    public enum Kind {
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
                return (float) (0.5 * x * (1 + Math.tanh(inner(x))));
            }

            @Override
            float derivative(float x) {
                double t = Math.tanh(inner(x));
                double dInner = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
                return (float) (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dInner);
            }

            private static double inner(double x) {
                return SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
            }
        },
        /** SiLU (swish): x·sigmoid(x). */
        SILU {
            @Override
            float apply(float x) {
                return (float) (x * sigmoid(x));
            }

            @Override
            float derivative(float x) {
                double s = sigmoid(x);
                return (float) (s * (1 + x * (1 - s)));
            }

            private static double sigmoid(double x) {
                return 1 / (1 + Math.exp(-x));
            }
        };

        private static final double SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

        abstract float apply(float x);

        abstract float derivative(float x);
    }

    private final Kind kind;
    private final Deque<Tensor> savedInputs = new ArrayDeque<>();

    public Activation(Kind kind) {
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }

    @Override
    public Tensor forward(Tensor x) {
        savedInputs.push(x);
        float[] out = new float[x.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = kind.apply(x.getFlat(i));
        }
        return Tensor.of(out, x.shape());
    }

    @Override
    public Tensor backward(Tensor gradOutput) {
        if (savedInputs.isEmpty()) {
            throw new IllegalStateException(this + ": backward called without a matching forward");
        }
        Tensor x = savedInputs.pop();
        if (gradOutput.size() != x.size()) {
            throw new IllegalArgumentException(this + ": gradient of " + gradOutput + " does not match the input " + x);
        }
        float[] out = new float[x.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = gradOutput.getFlat(i) * kind.derivative(x.getFlat(i));
        }
        return Tensor.of(out, x.shape());
    }

    @Override
    public String toString() {
        return kind + "(" + (name().isEmpty() ? "<root>" : name()) + ")";
    }
}
