package dev.float8j.runtime.ops;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backends.Backends;
import java.util.List;

/**
 * The operations of a transformer besides its gemms, forward beside backward, one small method per op, for one
 * kind of hardware. Host backends run {@code ReferenceModelOps}; the CUDA backend runs a kernel per op on
 * device tensors, so a whole training step stays on the device.
 *
 * <p>Conventions shared by every implementation:
 * <ul>
 *   <li>Activations are F32 or BF16; every op computes in F32 and returns its main input's dtype. Parameters,
 *       their gradients and optimizer moments are F32.</li>
 *   <li>A tensor is read as its matrix view ({@link Tensor#rows()} x {@link Tensor#cols()}): tokens are rows,
 *       in batch-major order (row {@code b * seq + s}).</li>
 *   <li>Results are new tensors where the inputs live; gradients of parameters accumulate (+=) into the given
 *       F32 gradient tensor, as {@code Parameter.accumulateGrad} does.</li>
 *   <li>Scalars that a step needs on the device (the loss, a squared gradient norm) are [1, 1] F32 tensors, so
 *       reading them is the caller's choice, not a hidden synchronization.</li>
 * </ul>
 */
public interface ModelOps {

    /** Token ids of a batch, where the ops run (uploaded once per batch by device backends). */
    TokenIds tokens(int[] ids, int batch, int seq);

    // ---- embedding ----

    /** Rows of table [vocabulary, dim] picked by ids: [batch * seq, dim] in dtype out. */
    Tensor embedding(Tensor table, TokenIds ids, DType out);

    /** gradTable[ids[t]] += dOut[t] for every token t (F32 accumulation; repeated ids add up). */
    void embeddingBackward(Tensor gradTable, TokenIds ids, Tensor dOut);

    // ---- RMSNorm: y = x / rms(x) * gain, rms(x) = sqrt(mean(x^2) + eps) over each row ----

    /** y and the inverse rms of each row ([rows, 1] F32), which backward needs. */
    NormResult rmsNorm(Tensor x, Tensor gain, float eps);

    /**
     * sum = {@link #add}(stream, branch) and {@link #rmsNorm} of that sum, with the bits of those two calls: a
     * pre-norm block's residual connection, met by the norm that follows it. A backend may do it in one pass, which
     * writes the sum once instead of writing it and reading it back; this default makes the two calls.
     */
    default AddNormResult addRmsNorm(Tensor stream, Tensor branch, Tensor gain, float eps) {
        Tensor sum = add(stream, branch);
        return new AddNormResult(sum, rmsNorm(sum, gain, eps));
    }

    /** dX of rmsNorm; gradGain += the gain's gradient. */
    Tensor rmsNormBackward(Tensor dY, Tensor x, Tensor gain, Tensor inverseRms, Tensor gradGain);

    /**
     * residual + {@link #rmsNormBackward}, in residual's dtype and shape, with dX rounded to x's dtype first (the bits
     * of {@code add(residual, rmsNormBackward(...))}): a pre-norm block's backward, where the residual path's gradient
     * meets the norm's. A backend may do it in one pass.
     */
    default Tensor rmsNormBackwardAdd(Tensor residual, Tensor dY, Tensor x, Tensor gain, Tensor inverseRms,
            Tensor gradGain) {
        return add(residual, rmsNormBackward(dY, x, gain, inverseRms, gradGain));
    }

    /** The most gradient parts {@link #rmsNormBackwardSum} takes. */
    int MAX_GRADIENT_PARTS = 3;

    /**
     * {@link #rmsNormBackwardAdd}, or {@link #rmsNormBackward} where residual is null, for the dY that is the sum of
     * dYParts (one to {@link #MAX_GRADIENT_PARTS} tensors of x's shape and one activation dtype), added in F32 in list
     * order: a pre-norm block's norm takes its branch's gradient as the parts the branch's layers made (q's, k's and
     * v's; gate's and up's) instead of after adds, which would each read and write the whole gradient and round every
     * partial sum to the parts' dtype. A backend may do it in one pass; this default sums on the host.
     */
    default Tensor rmsNormBackwardSum(Tensor residual, List<Tensor> dYParts, Tensor x, Tensor gain,
            Tensor inverseRms, Tensor gradGain) {
        String op = "rmsNormBackwardSum";
        HostOpChecks.gradientParts(op, dYParts, x);
        Tensor dY = dYParts.size() == 1 ? dYParts.get(0) : HostTensors.sumF32(op, dYParts);
        return residual == null
                ? rmsNormBackward(dY, x, gain, inverseRms, gradGain)
                : rmsNormBackwardAdd(residual, dY, x, gain, inverseRms, gradGain);
    }

    // ---- rotary position embedding (the "rotate half" pairing: element i with i + headDim/2 of each head) ----

    /**
     * x [batch * seq, heads * headDim] with each head rotated by its position's angles:
     * for pair (i, i + headDim/2) at position s, angle s * theta^(-2i/headDim). inverse rotates back, which is
     * the backward of the forward rotation.
     */
    Tensor rope(Tensor x, AttentionShape shape, int heads, float theta, boolean inverse);

    // ---- causal self-attention with grouped-query heads ----

    /**
     * Causal softmax attention, scale 1/sqrt(headDim): q [batch * seq, heads * headDim], k and v
     * [batch * seq, kvHeads * headDim]; query head h reads kv head h / (heads / kvHeads). Returns the output
     * (q's dtype and shape) and the log-sum-exp of each query row's scaled scores ([batch * heads, seq] F32,
     * row b * heads + h), which backward needs. The seq x seq scores are never stored.
     */
    AttentionResult attention(Tensor q, Tensor k, Tensor v, AttentionShape shape);

    /** dQ, dK, dV of {@link #attention}, each in its input's dtype and shape. */
    AttentionGrads attentionBackward(Tensor dOut, Tensor q, Tensor k, Tensor v, AttentionResult forward,
            AttentionShape shape);

    /**
     * {@link #attentionBackward} where q and k are the rotary embeddings (theta) of projections: dQ and dK with
     * respect to those projections, i.e. turned back by {@link #rope} with inverse. A backend may turn dQ back as it
     * writes it, which saves a pass over it; this default makes the three calls and releases the rotated gradients.
     */
    default AttentionGrads attentionBackwardUnrotated(Tensor dOut, Tensor q, Tensor k, Tensor v,
            AttentionResult forward, AttentionShape shape, float theta) {
        AttentionGrads g = attentionBackward(dOut, q, k, v, forward, shape);
        Tensor dQ = rope(g.dQ(), shape, shape.heads(), theta, true);
        Tensor dK = rope(g.dK(), shape, shape.kvHeads(), theta, true);
        Backends.current().release(g.dQ());
        Backends.current().release(g.dK());
        return new AttentionGrads(dQ, dK, g.dV());
    }

    // ---- SwiGLU: h = silu(gate) * up, silu(g) = g * sigmoid(g) ----

    /** SiLU(gate) · up, element by element. */
    Tensor swiglu(Tensor gate, Tensor up);

    /** {dGate, dUp}. */
    Tensor[] swigluBackward(Tensor dH, Tensor gate, Tensor up);

    // ---- residual ----

    /** a + b, element by element, in a's dtype. */
    Tensor add(Tensor a, Tensor b);

    // ---- loss ----

    /**
     * Mean cross-entropy of logits [tokens, vocabulary] against targets, and its gradient with respect to the
     * logits (already divided by the token count, in the logits' dtype), computed in one pass.
     */
    LossResult crossEntropy(Tensor logits, TokenIds targets);

    // ---- optimizer ----

    /** The sum of squares of every element of every tensor, as a [1, 1] F32 tensor where they live. */
    Tensor sumOfSquares(List<Tensor> tensors);

    /**
     * One AdamW step on one parameter (decoupled weight decay, bias-corrected moments, as
     * {@code dev.float8j.runtime.train.AdamW}). When sumOfSquaresOrNull is given (the global squared gradient norm
     * from {@link #sumOfSquares}), the gradient is first scaled by min(1, maxNorm / (sqrt(sumOfSquares) + 1e-6)),
     * read where it lives, with no host round trip.
     *
     * <p>When guardLossOrNull is given (the step's [1, 1] F32 loss), the update is guarded where the data lives: if
     * that loss or sumOfSquaresOrNull (when given) is NaN or ±Inf, nothing is written, and param, expAvg and
     * expAvgSq keep their bits. A trainer can then queue the update before it reads either scalar on the host; it
     * learns of a skipped update only by reading them. On a device whose FP8 casts report NaN or Inf only at the
     * host's next wait (CUDA), a guarded update also writes nothing after such a cast, which that wait then reports.
     */
    void adamw(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, AdamWStep step, Tensor sumOfSquaresOrNull,
            float maxNorm, Tensor guardLossOrNull);

    /** Sets every element of t to zero, where it lives. */
    void zero(Tensor t);
}
