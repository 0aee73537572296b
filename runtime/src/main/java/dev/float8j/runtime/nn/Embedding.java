package dev.float8j.runtime.nn;

import dev.float8j.runtime.Tensor;
import java.util.ArrayDeque;
import java.util.Deque;

/** A table of learned vectors, one row per token id: weight of shape [vocabulary, dim]. */
public final class Embedding extends Module {
    private final int vocabulary;
    private final int dim;
    private final Parameter weight;
    private final Deque<int[]> savedTokens = new ArrayDeque<>();
    private final SingleThreadGuard guard = new SingleThreadGuard(this);

    public Embedding(int vocabulary, int dim) {
        if (vocabulary <= 0 || dim <= 0) {
            throw new IllegalArgumentException("Embedding needs positive sizes, got vocabulary=" + vocabulary + " dim=" + dim);
        }
        this.vocabulary = vocabulary;
        this.dim = dim;
        this.weight = parameter("weight", Tensor.of(Init.normal(vocabulary * dim, 1f), vocabulary, dim));
    }

    public int vocabulary() {
        return vocabulary;
    }

    public int dim() {
        return dim;
    }

    public Parameter weight() {
        return weight;
    }

    /** The rows of the given token ids: [tokens.length, dim]. */
    public Tensor forward(int[] tokens) {
        guard.enter();
        try {
            return forwardOnce(tokens);
        } finally {
            guard.exit();
        }
    }

    /** Adds the gradient of each looked-up row to the table's gradient, in token order. */
    public void backward(Tensor gradOutput) {
        guard.enter();
        try {
            backwardOnce(gradOutput);
        } finally {
            guard.exit();
        }
    }

    private Tensor forwardOnce(int[] tokens) {
        if (tokens.length == 0) {
            throw new IllegalArgumentException(this + ": no tokens");
        }
        float[] table = weight.value().data();
        float[] out = new float[tokens.length * dim];
        for (int i = 0; i < tokens.length; i++) {
            int t = tokens[i];
            if (t < 0 || t >= vocabulary) {
                throw new IllegalArgumentException(this + ": token " + t + " at position " + i
                        + " is outside the vocabulary [0, " + vocabulary + ")");
            }
            System.arraycopy(table, t * dim, out, i * dim, dim);
        }
        if (GradMode.isEnabled()) {
            savedTokens.push(tokens.clone());
        }
        return Tensor.of(out, tokens.length, dim);
    }

    private void backwardOnce(Tensor gradOutput) {
        if (savedTokens.isEmpty()) {
            throw new IllegalStateException(this + ": backward called without a matching forward");
        }
        int[] tokens = savedTokens.peek();
        if (gradOutput.size() != tokens.length * dim) {
            throw new IllegalArgumentException(this + ": gradient " + gradOutput + " does not match " + tokens.length
                    + " tokens of dim " + dim);
        }
        savedTokens.pop();
        float[] acc = weight.grad().data();
        for (int i = 0; i < tokens.length; i++) {
            int row = tokens[i] * dim;
            for (int c = 0; c < dim; c++) {
                acc[row + c] += gradOutput.getFlat(i * dim + c);
            }
        }
    }

    @Override
    protected void discardOwnSaved() {
        guard.enter();
        try {
            savedTokens.clear();
        } finally {
            guard.exit();
        }
    }
}
