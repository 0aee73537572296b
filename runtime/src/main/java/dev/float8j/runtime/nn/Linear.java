package dev.float8j.runtime.nn;

import dev.float8j.plan.Float8Plan;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import java.util.Arrays;

/**
 * The linear layer y = x·Wᵀ (+ b), W of shape [outFeatures, inFeatures]; without a bias by default (as in most
 * transformer projections), with one, b of shape [1, outFeatures], when constructed with {@code bias = true}. The
 * bias is an F32 master parameter registered as "bias" (so checkpoints, weights files and conversions carry it) that
 * is never quantized: it is added in F32 to the gemm's F32 result before y is rounded to x's dtype, and its gradient
 * is the F32 column sums of dY.
 * Its three gemms run through one {@link Float8Matmul} with the layer's {@link #plan()}: all in high precision
 * here, accumulating in F32; {@code @Float8} layers and {@link Float8Linear} give an FP8 plan. y and dX take x's
 * dtype (BF16 activations stay BF16); the weight's gradient accumulates in F32.
 *
 * <p>Each {@link #forward} saves what its backward needs (a copy where it keeps x in high precision, so the caller
 * may reuse its input buffer); {@link #backward} consumes the most recent save, so a layer applied several times is
 * differentiated in reverse order. Inside {@link GradMode#disabled()} forward saves nothing;
 * {@link Module#discardSaved()} drops saves whose backward will not come. A call that throws changes nothing: the
 * saves and the weight's gradient are as before, and the call may be retried.
 *
 * <p><b>Threads:</b> a layer may be used by one thread at a time. A call from a second thread while one is under
 * way throws {@link IllegalStateException}; it never mixes two threads' saves silently.
 */
public class Linear extends Module implements Layer {
    private static final Float8Plan HIGH_PRECISION = Float8Plan.highPrecision();
    /** K: the length of each input row. */
    protected final int inFeatures;
    /** N: the length of each output row. */
    protected final int outFeatures;
    /** W, [outFeatures, inFeatures], the F32 master weight. */
    protected final Parameter weight;
    /** b, [1, outFeatures], the F32 bias; null for a layer without one. */
    protected final Parameter bias;
    private final Float8Matmul matmul;

    /** A layer without bias, W drawn uniform in ±1/√inFeatures from {@link Init}. */
    public Linear(int inFeatures, int outFeatures) {
        this(inFeatures, outFeatures, false);
    }

    /**
     * A layer with a bias when bias is true; W, then b, drawn uniform in ±1/√inFeatures from {@link Init} (as
     * PyTorch's {@code nn.Linear} does).
     */
    public Linear(int inFeatures, int outFeatures, boolean bias) {
        if (inFeatures <= 0 || outFeatures <= 0) {
            throw new IllegalArgumentException("Linear needs positive sizes, got in=" + inFeatures + " out=" + outFeatures);
        }
        Float8Layers.refuseUngenerated(getClass());
        this.inFeatures = inFeatures;
        this.outFeatures = outFeatures;
        float bound = (float) (1.0 / Math.sqrt(inFeatures));
        this.weight = parameter("weight", Tensor.of(Init.uniform(outFeatures * inFeatures, bound), outFeatures, inFeatures));
        this.bias = bias ? parameter("bias", Tensor.of(Init.uniform(outFeatures, bound), 1, outFeatures)) : null;
        Float8Plan plan = plan();
        if (plan == null) {
            throw new IllegalStateException(getClass().getName() + ".plan() returned null while the layer was constructed;"
                    + " it is read once, by Linear's constructor, so it must not depend on fields set after super(...)");
        }
        this.matmul = new Float8Matmul(this, plan);
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

    /** b, [1, outFeatures], or null when this layer has no bias. */
    public Parameter bias() {
        return bias;
    }

    /** Whether this layer adds a bias. */
    public boolean hasBias() {
        return bias != null;
    }

    /** b's current value, or null when this layer has no bias: what forward passes to {@link Float8Matmul}. */
    protected final Tensor biasValue() {
        return bias == null ? null : bias.value();
    }

    /** The backend this layer computes on: {@link Backends#current()}. */
    protected Backend backend() {
        return Backends.current();
    }

    /**
     * The plan of this layer's gemms: every gemm in high precision here. Subclasses that run FP8 return theirs; it is
     * read once, by this class's constructor, so it must come from a constant or a field set before
     * {@code super(...)}.
     */
    public Float8Plan plan() {
        return HIGH_PRECISION;
    }

    /**
     * Gives the output gemm this layer's weight already in FP8 for the following forwards and backwards, or null to
     * go back to quantizing the weight in forward; see {@link Float8Matmul#supplyWeight}.
     */
    public void supplyQuantizedWeight(dev.float8j.runtime.Float8Tensor wq, boolean weightValueCurrent) {
        matmul.supplyWeight(wq, weightValueCurrent);
    }

    /** Whether a supplied FP8 weight also serves grad_input; see {@link Float8Matmul#suppliedWeightServesGradInput}. */
    public boolean suppliedWeightServesGradInput() {
        return matmul.suppliedWeightServesGradInput();
    }

    /** The unit that runs this layer's gemms and holds its saves. */
    protected final Float8Matmul matmul() {
        return matmul;
    }

    /**
     * How this layer runs its gemms, in words: "high precision", or the FP8 plan. Checkpoints record it, so that
     * weights are never loaded into a layer with a different plan unnoticed.
     */
    public String float8Plan() {
        return matmul.plan().anyFp8() ? matmul.plan().toString() : "high precision";
    }

    /** x of shape [..., inFeatures] to y of shape [..., outFeatures]. */
    @Override
    public Tensor forward(Tensor x) {
        checkInput(x);
        return outputShape(matmul.forward(backend(), x, weight, biasValue()), x);
    }

    /**
     * Whether a class overrides {@link #forward(Tensor)} without overriding {@link #forward(SharedInput)} below it:
     * then {@code forward(SharedInput)} calls its forward(Tensor), so the behaviour it adds is never skipped.
     */
    private static final ClassValue<Boolean> OWN_TENSOR_FORWARD = new ClassValue<>() {
        @Override
        protected Boolean computeValue(Class<?> type) {
            try {
                Class<?> tensorForward = type.getMethod("forward", Tensor.class).getDeclaringClass();
                Class<?> sharedForward = type.getMethod("forward", SharedInput.class).getDeclaringClass();
                return !tensorForward.isAssignableFrom(sharedForward);
            } catch (NoSuchMethodException e) {
                throw new IllegalStateException(e);
            }
        }
    };

    /**
     * As {@link #forward(Tensor)} for an input that several layers read and nobody changes until backward: where this
     * layer keeps x for backward it keeps a view, not a copy, and an FP8 cast of x another layer reading the same
     * SharedInput made under the same spec is reused (see {@link SharedInput}).
     */
    public Tensor forward(SharedInput in) {
        if (OWN_TENSOR_FORWARD.get(getClass())) {
            return forward(in.tensor());  // a subclass's own forward(Tensor) runs as written
        }
        checkInput(in.tensor());
        return outputShape(matmul.forward(backend(), in, weight, biasValue()), in.tensor());
    }

    /**
     * residual + forward(in), residual of y's shape and dtype (it stays the caller's): the sum comes out of the output
     * gemm, added in F32 before y's one rounding (CUDA: cuBLASLt's C), so a residual connection needs no add of its
     * own. residual null gives forward(in). A subclass whose own forward or backward this would skip (one that
     * overrides them below the class that declares this method) gets its forward and then a separate add.
     */
    public Tensor forwardAdding(SharedInput in, Tensor residual) {
        if (residual == null) {
            return forward(in);
        }
        if (OWN_PASSES.get(getClass())) {
            return added(residual, forward(in));
        }
        checkInput(in.tensor());
        return outputShape(matmul.forward(backend(), in, weight, biasValue(), residual), in.tensor());
    }

    /**
     * Takes dY of the shape of the matching forward's y ([..., outFeatures]), adds dW to the weight's gradient (and
     * the column sums of dY to the bias's) and returns dX.
     */
    @Override
    public Tensor backward(Tensor gradOutput) {
        return matmul.backward(backend(), gradOutput, weight, bias);
    }

    /**
     * addend + backward(gradOutput), addend of dX's shape and dtype (it stays the caller's): the sum comes out of the
     * grad_input gemm, added in F32 before dX's one rounding, so the gradient of an input that several layers read
     * sums as each layer's part is made. addend null gives backward(gradOutput). A subclass with passes of its own
     * gets them as {@link #forwardAdding} says.
     */
    public Tensor backwardAdding(Tensor gradOutput, Tensor addend) {
        if (addend == null) {
            return backward(gradOutput);
        }
        if (OWN_PASSES.get(getClass())) {
            return added(addend, backward(gradOutput));
        }
        return matmul.backward(backend(), gradOutput, weight, bias, addend);
    }

    /** addend + result by a separate add, where a subclass's own pass made result; result is released. */
    private static Tensor added(Tensor addend, Tensor result) {
        Tensor sum = Ops.where(result).add(addend, result);
        Ops.release(result);
        return sum;
    }

    /**
     * Whether a class declares forward(Tensor), forward(SharedInput) or backward(Tensor) below the classes that
     * declare {@link #forwardAdding} and {@link #backwardAdding}: then the adding passes would skip what it adds, so
     * they call its passes and add after them. The {@code @Float8} processor writes all five in the classes it
     * generates, which so keep the fused adds.
     */
    private static final ClassValue<Boolean> OWN_PASSES = new ClassValue<>() {
        @Override
        protected Boolean computeValue(Class<?> type) {
            try {
                Class<?> adding = type.getMethod("forwardAdding", SharedInput.class, Tensor.class).getDeclaringClass();
                Class<?> backAdding = type.getMethod("backwardAdding", Tensor.class, Tensor.class).getDeclaringClass();
                return below(type.getMethod("forward", Tensor.class).getDeclaringClass(), adding)
                        || below(type.getMethod("forward", SharedInput.class).getDeclaringClass(), adding)
                        || below(type.getMethod("backward", Tensor.class).getDeclaringClass(), backAdding);
            } catch (NoSuchMethodException e) {
                throw new IllegalStateException(e);
            }
        }

        private static boolean below(Class<?> declaring, Class<?> than) {
            return declaring != than && than.isAssignableFrom(declaring);
        }
    };

    /** Fails unless x ends in inFeatures. */
    protected final void checkInput(Tensor x) {
        if (x.cols() != inFeatures) {
            throw new IllegalArgumentException(this + ": input of shape " + Arrays.toString(x.shape())
                    + " does not end in inFeatures=" + inFeatures);
        }
    }

    /** y2d, which the caller made and hands over, shaped like x with the last dimension replaced by outFeatures. */
    protected final Tensor outputShape(Tensor y2d, Tensor x) {
        int[] shape = x.shape();
        shape[shape.length - 1] = outFeatures;
        return y2d.reshapeOwned(shape);
    }

    /** Bytes this layer holds for its pending backward passes. */
    public long savedBytes() {
        return matmul.savedBytes();
    }

    @Override
    protected void discardOwnSaved() {
        matmul.discardSaved();
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "(" + (name().isEmpty() ? "<root>" : name()) + ", in=" + inFeatures + ", out="
                + outFeatures + (bias == null ? "" : ", bias") + ")";
    }
}
