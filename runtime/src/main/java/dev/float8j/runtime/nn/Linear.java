package dev.float8j.runtime.nn;

import dev.float8j.runtime.Backend;
import dev.float8j.runtime.Backends;
import dev.float8j.runtime.Tensor;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;

/**
 * The high-precision linear layer y = x·Wᵀ, W of shape [outFeatures, inFeatures], no bias (as in most
 * transformer projections). It runs the three gemms in high precision on the current backend, accumulating in
 * F32, and is the base class that {@code @Float8} layers extend. y and dX take x's dtype (BF16 activations stay
 * BF16); the weight's gradient accumulates in F32.
 *
 * <p>Each {@link #forward} saves what its backward needs; {@link #backward} consumes the most recent
 * save, so a layer applied several times is differentiated in reverse order.
 */
public class Linear extends Module implements Layer {
    /** K: the length of each input row. */
    protected final int inFeatures;
    /** N: the length of each output row. */
    protected final int outFeatures;
    /** W, [outFeatures, inFeatures], the F32 master weight. */
    protected final Parameter weight;
    private final Deque<Tensor> savedInputs = new ArrayDeque<>();

    /** A layer with W drawn uniform in ±1/√inFeatures from {@link Init}. */
    public Linear(int inFeatures, int outFeatures) {
        if (inFeatures <= 0 || outFeatures <= 0) {
            throw new IllegalArgumentException("Linear needs positive sizes, got in=" + inFeatures + " out=" + outFeatures);
        }
        Float8Layers.refuseUngenerated(getClass());
        this.inFeatures = inFeatures;
        this.outFeatures = outFeatures;
        float bound = (float) (1.0 / Math.sqrt(inFeatures));
        this.weight = parameter("weight", Tensor.of(Init.uniform(outFeatures * inFeatures, bound), outFeatures, inFeatures));
    }

    /** K: the length of each input row. */
    public int inFeatures() {
        return inFeatures;
    }

    /** N: the length of each output row. */
    public int outFeatures() {
        return outFeatures;
    }

    /** W, [outFeatures, inFeatures]. */
    public Parameter weight() {
        return weight;
    }

    /** The backend this layer computes on: {@link Backends#current()}. */
    protected Backend backend() {
        return Backends.current();
    }

    /**
     * How this layer runs its gemms, in words: "high precision" here; FP8 layers describe their plan.
     * Checkpoints record it, so that weights are never loaded into a layer with a different plan unnoticed.
     */
    public String float8Plan() {
        return "high precision";
    }

    /** x of shape [..., inFeatures] to y of shape [..., outFeatures]. */
    @Override
    public Tensor forward(Tensor x) {
        checkInput(x);
        savedInputs.push(x);
        return outputShape(backend().matmul(x, 1, weight.value(), 1, x.dtype()), x);
    }

    /** Takes dY of shape [..., outFeatures], adds dW to the weight's gradient and returns dX. */
    @Override
    public Tensor backward(Tensor gradOutput) {
        Tensor x = popSaved(savedInputs);
        checkGradOutput(gradOutput, x);
        weight.accumulateGrad(backend().matmul(gradOutput, 0, x, 0));
        return inputShape(backend().matmul(gradOutput, 1, weight.value(), 0, x.dtype()), x);
    }

    /** Fails unless x ends in inFeatures. */
    protected final void checkInput(Tensor x) {
        if (x.cols() != inFeatures) {
            throw new IllegalArgumentException(this + ": input of shape " + Arrays.toString(x.shape())
                    + " does not end in inFeatures=" + inFeatures);
        }
    }

    /** Fails unless gradOutput matches the output of the saved forward of input. */
    protected final void checkGradOutput(Tensor gradOutput, Tensor input) {
        if (gradOutput.cols() != outFeatures || gradOutput.rows() != input.rows()) {
            throw new IllegalArgumentException(this + ": gradient of shape " + Arrays.toString(gradOutput.shape())
                    + " does not match the output [" + input.rows() + ", " + outFeatures + "] of the saved forward");
        }
    }

    /** The latest save, removed; fails when backward has no matching forward. */
    protected final <T> T popSaved(Deque<T> saved) {
        if (saved.isEmpty()) {
            throw new IllegalStateException(this + ": backward called without a matching forward");
        }
        return saved.pop();
    }

    /** y shaped like x with the last dimension replaced by outFeatures. */
    protected final Tensor outputShape(Tensor y2d, Tensor x) {
        int[] shape = x.shape();
        shape[shape.length - 1] = outFeatures;
        return y2d.reshape(shape);
    }

    /** dX shaped like x. */
    protected final Tensor inputShape(Tensor dx2d, Tensor x) {
        return dx2d.reshape(x.shape());
    }

    /** Bytes this layer holds for its pending backward passes. */
    public long savedBytes() {
        long total = 0;
        for (Tensor t : savedInputs) {
            total += t.bytes();
        }
        return total;
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "(" + (name().isEmpty() ? "<root>" : name()) + ", in=" + inFeatures + ", out="
                + outFeatures + ")";
    }
}
