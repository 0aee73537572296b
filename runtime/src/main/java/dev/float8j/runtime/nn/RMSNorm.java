package dev.float8j.runtime.nn;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.ops.AddNormResult;
import dev.float8j.runtime.ops.ModelOps;
import dev.float8j.runtime.ops.NormResult;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;

/**
 * Root-mean-square normalization over the last dimension with a learned gain:
 * y = x / sqrt(mean(x²) + eps) · gain, through {@link dev.float8j.runtime.ops.ModelOps#rmsNorm} where x lives.
 * y and dX take x's dtype; the gain and its gradient are F32.
 */
public final class RMSNorm extends Module implements Layer {
    private final int dim;
    private final float eps;
    private final Parameter gain;
    private final Deque<Saved> saved = new ArrayDeque<>();
    private final SingleThreadGuard guard = new SingleThreadGuard(this);

    private record Saved(Tensor x, Tensor inverseRms) {
    }

    /** RMSNorm over rows of dim values with the usual eps of 1e-6. */
    public RMSNorm(int dim) {
        this(dim, 1e-6f);
    }

    /** RMSNorm over rows of dim values, eps added to the mean square. */
    public RMSNorm(int dim, float eps) {
        if (dim <= 0 || !(eps > 0)) {
            throw new IllegalArgumentException("RMSNorm needs a positive dimension and eps, got dim=" + dim + " eps=" + eps);
        }
        this.dim = dim;
        this.eps = eps;
        float[] ones = new float[dim];
        Arrays.fill(ones, 1f);
        this.gain = parameter("weight", Tensor.of(ones, 1, dim));
    }

    /** The learned gain, [dim]. */
    public Parameter gain() {
        return gain;
    }

    /** y for x; keeps a copy of x for backward, so the caller may change x's elements meanwhile. */
    @Override
    public Tensor forward(Tensor x) {
        return forward(x, false);
    }

    /**
     * As {@link #forward(Tensor)} for an input nobody changes until backward (a model's own residual stream): keeps a
     * view of it for backward instead of a copy, which saves the copy's memory and time. Releasing the tensor stays
     * the caller's to do; the view keeps the memory until backward.
     */
    public Tensor forward(SharedInput in) {
        return forward(in.tensor(), true);
    }

    private Tensor forward(Tensor x, boolean shareInput) {
        guard.enter();
        try {
            requireRows(x);
            NormResult n = Ops.where(x).rmsNorm(x, gain.value(), eps);
            save(x, shareInput, n);
            return n.y();
        } finally {
            guard.exit();
        }
    }

    /** What {@link #forwardAdding} makes: a residual connection's sum, and y, this norm of it. */
    public record SumAndNorm(Tensor sum, Tensor y) {
    }

    /**
     * sum = stream + branch, in stream's dtype, and y = this norm of sum, in one pass where the backend fuses them,
     * with the bits of an add and {@link #forward(SharedInput)} of its result: a pre-norm model's residual connection,
     * met by the norm that follows it. sum becomes the caller's as the new residual stream, which nobody may change
     * until backward: the norm keeps a view of it for backward, as {@link #forward(SharedInput)} does. stream and
     * branch stay the caller's.
     */
    public SumAndNorm forwardAdding(Tensor stream, Tensor branch) {
        guard.enter();
        try {
            requireRows(stream);
            if (!Arrays.equals(stream.shape(), branch.shape())) {
                throw new IllegalArgumentException(this + ": the residual branch's shape "
                        + Arrays.toString(branch.shape()) + " differs from the stream's " + Arrays.toString(stream.shape()));
            }
            AddNormResult r = Ops.where(stream).addRmsNorm(stream, branch, gain.value(), eps);
            save(r.sum(), true, r.norm());
            return new SumAndNorm(r.sum(), r.norm().y());
        } finally {
            guard.exit();
        }
    }

    private void requireRows(Tensor x) {
        if (x.cols() != dim) {
            throw new IllegalArgumentException(this + ": input of shape " + Arrays.toString(x.shape())
                    + " does not end in dim=" + dim);
        }
    }

    /** Keeps x (a view where shared, else a copy) and n's inverse rms for backward, where gradients are on. */
    private void save(Tensor x, boolean shareInput, NormResult n) {
        if (GradMode.isEnabled()) {
            saved.push(new Saved(SharedInput.keptForBackward(Backends.current(), x, shareInput), n.inverseRms()));
        } else {
            Backends.current().release(n.inverseRms());
        }
    }

    @Override
    public Tensor backward(Tensor gradOutput) {
        return backward(gradOutput, null);
    }

    /**
     * residual + dX, in residual's dtype and shape: a pre-norm block's backward, where the gradient of the residual
     * path (residual, which stays the caller's) meets this norm's, in one pass where the backend fuses them. The
     * bits are those of adding residual and {@link #backward(Tensor)}'s result.
     */
    public Tensor backward(Tensor gradOutput, Tensor residual) {
        return backward(List.of(gradOutput), residual);
    }

    /**
     * As {@link #backward(Tensor, Tensor)} (residual may be null) for the gradient that is the sum of gradParts, one to
     * {@link ModelOps#MAX_GRADIENT_PARTS} tensors that stay the caller's: a pre-norm block's
     * branch hands over the parts its layers made (q's, k's and v's dX; gate's and up's), which the norm adds in F32
     * as it reads them ({@link ModelOps#rmsNormBackwardSum}) instead of after adds of their own.
     */
    public Tensor backward(List<Tensor> gradParts, Tensor residual) {
        guard.enter();
        try {
            if (saved.isEmpty()) {
                throw new IllegalStateException(this + ": backward called without a matching forward");
            }
            Saved s = saved.peek();
            if (gradParts.isEmpty() || gradParts.size() > ModelOps.MAX_GRADIENT_PARTS) {
                throw new IllegalArgumentException(this + ": takes 1 to " + ModelOps.MAX_GRADIENT_PARTS
                        + " gradient parts, got " + gradParts.size());
            }
            for (Tensor part : gradParts) {
                if (part.dtype() != gradParts.get(0).dtype()) {
                    throw new IllegalArgumentException(this + ": gradient parts of different dtypes, "
                            + gradParts.get(0) + " and " + part);
                }
                if (part.size() != s.x().size()) {
                    throw new IllegalArgumentException(this + ": gradient " + part + " does not match the input " + s.x());
                }
            }
            if (residual != null && residual.size() != s.x().size()) {
                throw new IllegalArgumentException(this + ": the residual gradient " + residual + " does not match "
                        + s.x());
            }
            // the save is consumed only once the gradient is known to fit, so a wrong call can be retried
            saved.pop();
            Backend backend = Backends.current();
            List<Tensor> parts = gradParts.stream().map(part -> part.reshape(s.x().shape())).toList();
            try {
                if (parts.size() > 1) {
                    return Ops.where(s.x()).rmsNormBackwardSum(residual, parts, s.x(), gain.value(), s.inverseRms(),
                            gain.grad());
                }
                return residual == null
                        ? Ops.where(s.x()).rmsNormBackward(parts.get(0), s.x(), gain.value(), s.inverseRms(), gain.grad())
                        : Ops.where(s.x()).rmsNormBackwardAdd(residual, parts.get(0), s.x(), gain.value(),
                                s.inverseRms(), gain.grad());
            } finally {
                // the views of the caller's gradients, and the save, which nothing else holds
                parts.forEach(backend::release);
                backend.release(s.x());
                backend.release(s.inverseRms());
            }
        } finally {
            guard.exit();
        }
    }

    @Override
    protected void discardOwnSaved() {
        guard.run(saved::clear);
    }
}
