package dev.float8j.runtime.ops;

import dev.float8j.runtime.Tensor;
import java.util.Arrays;
import java.util.List;

/**
 * The input checks of the host {@link ModelOps} ({@link ReferenceModelOps} and the CPU backend's), in one place, so
 * that both refuse the same inputs with the same messages before they read anything.
 */
public final class HostOpChecks {
    private HostOpChecks() {
    }

    /** x of an activation dtype, gain [1, x.cols()], a positive eps. */
    public static void rmsNorm(String op, Tensor x, Tensor gain, float eps) {
        HostTensors.requireActivation(op, x);
        HostTensors.requireMatrix(op, "gain", gain, 1, x.cols());
        if (!(eps > 0)) {
            throw new IllegalArgumentException(op + ": eps must be positive, got " + eps);
        }
    }

    /** x [tokens, heads·headDim] of an activation dtype, theta above 1. */
    public static void rope(String op, Tensor x, AttentionShape shape, int heads, float theta) {
        HostTensors.requireActivation(op, x);
        HostTensors.requireMatrix(op, "x", x, shape.tokens(), heads * shape.headDim());
        if (!(theta > 1)) {
            throw new IllegalArgumentException(op + ": theta must be above 1, got " + theta);
        }
    }

    /** a of an activation dtype, b with as many elements. */
    public static void add(String op, Tensor a, Tensor b) {
        HostTensors.requireActivation(op, a);
        if (a.size() != b.size()) {
            throw new IllegalArgumentException(op + ": " + a + " and " + b + " hold different element counts");
        }
    }

    /** logits of an activation dtype, one target per row, each a class of logits; returns the targets. */
    public static int[] crossEntropyTargets(String op, Tensor logits, TokenIds targets) {
        HostTensors.requireActivation(op, logits);
        if (targets.count() != logits.rows()) {
            throw new IllegalArgumentException(op + ": logits " + Arrays.toString(logits.shape()) + " have "
                    + logits.rows() + " rows but " + targets.count() + " targets were given");
        }
        return HostTensors.checkIds(op, targets, logits.cols());
    }

    /** q [tokens, heads·headDim] of an activation dtype, k and v [tokens, kvHeads·headDim]. */
    public static void attentionInputs(String op, Tensor q, Tensor k, Tensor v, AttentionShape shape) {
        HostTensors.requireActivation(op, q);
        HostTensors.requireMatrix(op, "q", q, shape.tokens(), shape.heads() * shape.headDim());
        HostTensors.requireMatrix(op, "k", k, shape.tokens(), shape.kvHeads() * shape.headDim());
        HostTensors.requireMatrix(op, "v", v, shape.tokens(), shape.kvHeads() * shape.headDim());
    }

    /** attentionInputs, and dOut and the forward's output shaped like q, its log-sum-exp [batch·heads, seq]. */
    public static void attentionBackward(String op, Tensor dOut, Tensor q, Tensor k, Tensor v, AttentionResult forward,
            AttentionShape shape) {
        attentionInputs(op, q, k, v, shape);
        HostTensors.requireSameShape(op, "dOut", dOut, "q", q);
        HostTensors.requireSameShape(op, "the forward output", forward.out(), "q", q);
        HostTensors.requireMatrix(op, "logSumExp", forward.logSumExp(), shape.batch() * shape.heads(), shape.seq());
    }

    /** dY shaped like x; gain and its gradient [1, dim]; one inverse rms per row of x. */
    public static void rmsNormBackward(String op, Tensor dY, Tensor x, Tensor gain, Tensor inverseRms, Tensor gradGain) {
        HostTensors.requireSameShape(op, "dY", dY, "x", x);
        HostTensors.requireMatrix(op, "gain", gain, 1, x.cols());
        HostTensors.requireMatrix(op, "gradGain", gradGain, 1, x.cols());
        HostTensors.requireMatrix(op, "inverseRms", inverseRms, x.rows(), 1);
    }

    /** One to {@link ModelOps#MAX_GRADIENT_PARTS} parts, each of x's shape, of one activation dtype. */
    public static void gradientParts(String op, List<Tensor> parts, Tensor x) {
        if (parts.isEmpty() || parts.size() > ModelOps.MAX_GRADIENT_PARTS) {
            throw new IllegalArgumentException(op + ": takes 1 to " + ModelOps.MAX_GRADIENT_PARTS
                    + " gradient parts, got " + parts.size());
        }
        for (Tensor part : parts) {
            HostTensors.requireActivation(op, part);
            HostTensors.requireSameShape(op, "a gradient part", part, "x", x);
            if (part.dtype() != parts.get(0).dtype()) {
                throw new IllegalArgumentException(op + ": gradient parts of different dtypes, " + parts.get(0)
                        + " and " + part);
            }
        }
    }

    /** gate, up and dH of one shape. */
    public static void swigluBackward(String op, Tensor dH, Tensor gate, Tensor up) {
        HostTensors.requireSameShape(op, "gate", gate, "up", up);
        HostTensors.requireSameShape(op, "dH", dH, "gate", gate);
    }

    /**
     * The gradient and both moments shaped like the parameter, a [1, 1] guard loss where one is given and, where
     * clipping is asked for, a positive maxNorm and a [1, 1] sum of squares. Returns the clipping factor
     * min(1, maxNorm / (norm + 1e-6)), or 1 without one.
     */
    public static double adamw(String op, Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq,
            Tensor sumOfSquaresOrNull, float maxNorm, Tensor guardLossOrNull) {
        HostTensors.requireSameShape(op, "grad", grad, "param", param);
        HostTensors.requireSameShape(op, "expAvg", expAvg, "param", param);
        HostTensors.requireSameShape(op, "expAvgSq", expAvgSq, "param", param);
        if (guardLossOrNull != null) {
            HostTensors.requireScalar(op, "guardLoss", guardLossOrNull);
        }
        if (sumOfSquaresOrNull == null) {
            return 1;
        }
        if (!(maxNorm > 0)) {
            throw new IllegalArgumentException(op + ": maxNorm must be positive, got " + maxNorm);
        }
        HostTensors.requireScalar(op, "sumOfSquares", sumOfSquaresOrNull);
        double norm = Math.sqrt(sumOfSquaresOrNull.data()[0]);
        return Math.min(1, maxNorm / (norm + 1e-6));
    }

    /**
     * Whether a guarded AdamW update (inputs checked by {@link #adamw}) must write nothing: a guard loss is given,
     * and it or the sum of squares, when given, is NaN or ±Inf.
     */
    public static boolean adamwGuardSkips(Tensor sumOfSquaresOrNull, Tensor guardLossOrNull) {
        return guardLossOrNull != null && !(Float.isFinite(guardLossOrNull.data()[0])
                && (sumOfSquaresOrNull == null || Float.isFinite(sumOfSquaresOrNull.data()[0])));
    }
}
