package dev.float8j.runtime.nn;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.ops.ModelOps;
import dev.float8j.runtime.ops.TokenIds;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * A table of learned vectors, one row per token id: weight of shape [vocabulary, dim]. Lookups and their
 * gradients run through {@link ModelOps} where the table lives.
 */
public final class Embedding extends Module {
    private final int vocabulary;
    private final int dim;
    private final Parameter weight;
    private final Deque<TokenIds> savedTokens = new ArrayDeque<>();
    private final SingleThreadGuard guard = new SingleThreadGuard(this);

    /** A table of vocabulary rows of dim values. */
    public Embedding(int vocabulary, int dim) {
        if (vocabulary <= 0 || dim <= 0) {
            throw new IllegalArgumentException("Embedding needs positive sizes, got vocabulary=" + vocabulary + " dim=" + dim);
        }
        this.vocabulary = vocabulary;
        this.dim = dim;
        this.weight = parameter("weight", Tensor.of(Init.normal(vocabulary * dim, 1f), vocabulary, dim));
    }

    /** Rows of the table: the number of token ids. */
    public int vocabulary() {
        return vocabulary;
    }

    /** Values per token. */
    public int dim() {
        return dim;
    }

    /** The table, [vocabulary, dim]. */
    public Parameter weight() {
        return weight;
    }

    /** The ops where the table lives, which also make its {@link TokenIds}. */
    public ModelOps ops() {
        return Ops.where(weight.value());
    }

    /** The F32 rows of the given token ids: [tokens.length, dim]. */
    public Tensor forward(int[] tokens) {
        if (tokens.length == 0) {
            throw new IllegalArgumentException(this + ": no tokens");
        }
        return forward(ops().tokens(tokens.clone(), 1, tokens.length), DType.F32);
    }

    /** The rows of the given token ids in dtype out: [ids.count(), dim]. */
    public Tensor forward(TokenIds ids, DType out) {
        guard.enter();
        try {
            Tensor y = ops().embedding(weight.value(), ids, out);
            if (GradMode.isEnabled()) {
                savedTokens.push(ids);
            }
            return y;
        } finally {
            guard.exit();
        }
    }

    /** Adds the gradient of each looked-up row to the table's gradient, in token order. */
    public void backward(Tensor gradOutput) {
        guard.enter();
        try {
            if (savedTokens.isEmpty()) {
                throw new IllegalStateException(this + ": backward called without a matching forward");
            }
            TokenIds ids = savedTokens.peek();
            if (gradOutput.size() != ids.count() * dim) {
                throw new IllegalArgumentException(this + ": gradient " + gradOutput + " does not match " + ids.count()
                        + " tokens of dim " + dim);
            }
            // the save is consumed only once the gradient is known to fit, so a wrong call can be retried
            savedTokens.pop();
            Tensor g = gradOutput.reshape(ids.count(), dim);
            try {
                ops().embeddingBackward(weight.grad(), ids, g);
            } finally {
                Backends.current().release(g);  // the view only: the caller still holds gradOutput
            }
        } finally {
            guard.exit();
        }
    }

    @Override
    protected void discardOwnSaved() {
        guard.run(savedTokens::clear);
    }
}
