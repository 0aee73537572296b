package dev.float8j.runtime.train;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.Ops;
import dev.float8j.runtime.nn.Parameter;
import dev.float8j.runtime.ops.AdamWStep;
import dev.float8j.runtime.ops.ModelOps;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Adam with decoupled weight decay (Loshchilov and Hutter): w -= lr·(m̂ / (√v̂ + eps) + weightDecay·w),
 * with bias-corrected moment estimates m̂ and v̂.
 *
 * <p>The moments are F32 tensors made where the parameters live when the optimizer is made (so make it after
 * {@code module.moveTo(backend)}), and each update runs {@link ModelOps#adamw} there: on a device backend the
 * optimizer never leaves the device. {@link #step(Tensor, float, Tensor)} clips by the global gradient norm read from
 * a {@link ModelOps#sumOfSquares} result where it lives, and may be guarded by the step's loss there too.
 */
public final class AdamW extends ParameterOptimizer {
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final Tensor[] expAvg;
    private final Tensor[] expAvgSq;
    /** The clipping of the step in progress: the global sum of squares of the gradients, or null for none. */
    private Tensor clipSumOfSquares;
    private float clipMaxNorm;
    /** The guard of the step in progress: its loss, or null for none. */
    private Tensor guardLoss;

    /** AdamW over params with the given moments' decay rates, epsilon and decoupled weight decay. */
    public AdamW(List<Parameter> params, double learningRate, double beta1, double beta2, double eps, double weightDecay) {
        if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps > 0 && weightDecay >= 0 && learningRate >= 0)) {
            throw new IllegalArgumentException("AdamW needs 0 <= betas < 1, eps > 0, weightDecay >= 0 and lr >= 0; got lr="
                    + learningRate + " betas=(" + beta1 + ", " + beta2 + ") eps=" + eps + " weightDecay=" + weightDecay);
        }
        super(params, learningRate);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.expAvg = zerosWhereParametersLive();
        this.expAvgSq = zerosWhereParametersLive();
    }

    /** The usual settings: betas (0.9, 0.999), eps 1e-8. */
    public AdamW(List<Parameter> params, double learningRate, double weightDecay) {
        this(params, learningRate, 0.9, 0.999, 1e-8, weightDecay);
    }

    private Tensor[] zerosWhereParametersLive() {
        Tensor[] out = new Tensor[params.size()];
        for (int i = 0; i < out.length; i++) {
            Parameter p = params.get(i);
            out[i] = p.placeLikeValue(Tensor.zeros(DType.F32, p.value().shape()));
        }
        return out;
    }

    @Override
    public String kind() {
        return "AdamW(betas=" + beta1 + "," + beta2 + " eps=" + eps + " weightDecay=" + weightDecay + ")";
    }

    /**
     * One update with every gradient first scaled by min(1, maxNorm / (√sumOfSquares + 1e-6)), sumOfSquares being
     * the [1, 1] result of {@link ModelOps#sumOfSquares} over all gradients, read where it lives. With a
     * guardLossOrNull (the step's [1, 1] loss), every parameter's update is skipped where it runs if that loss or
     * sumOfSquares is NaN or ±Inf (see {@link ModelOps#adamw}); the step still counts until the caller, having read
     * them, takes it back ({@link #uncountSkippedStep}).
     */
    public void step(Tensor sumOfSquares, float maxNorm, Tensor guardLossOrNull) {
        if (!(maxNorm > 0)) {
            throw new IllegalArgumentException("maxNorm must be positive, got " + maxNorm);
        }
        clipSumOfSquares = sumOfSquares;
        clipMaxNorm = maxNorm;
        guardLoss = guardLossOrNull;
        try {
            step();
        } finally {
            clipSumOfSquares = null;
            guardLoss = null;
        }
    }

    @Override
    protected void update(long step) {
        AdamWStep hyper = new AdamWStep((float) learningRate, (float) beta1, (float) beta2, (float) eps,
                (float) weightDecay, step);
        // checked for every parameter before any is updated, so that this error leaves every weight as it was
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            if (p.value().isOnDevice() != expAvg[i].isOnDevice()) {
                throw new IllegalStateException("the AdamW moments of " + p.name() + " live elsewhere than the parameter:"
                        + " make the optimizer after moving the model (module.moveTo)");
            }
        }
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            ModelOps ops = Ops.where(p.value());
            ops.adamw(p.value(), p.grad(), expAvg[i], expAvgSq[i], hyper, clipSumOfSquares, clipMaxNorm, guardLoss);
        }
    }

    /** The moments as host arrays: the tensors' own arrays on the host, copies of device moments. */
    @Override
    public Map<String, float[]> state() {
        float[][] avg = new float[params.size()][];
        float[][] avgSq = new float[params.size()][];
        for (int i = 0; i < params.size(); i++) {
            avg[i] = params.get(i).toHost(expAvg[i]).data();
            avgSq[i] = params.get(i).toHost(expAvgSq[i]).data();
        }
        Map<String, float[]> out = new LinkedHashMap<>(OptimizerState.named(params, "exp_avg", avg));
        out.putAll(OptimizerState.named(params, "exp_avg_sq", avgSq));
        return out;
    }

    @Override
    protected void restoreState(Map<String, float[]> loaded) {
        // host moments are the arrays state() returns, so restore() writes them; device moments take the
        // checked copies in place
        Map<String, float[]> host = state();
        OptimizerState.restore(host, loaded);
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            if (expAvg[i].isOnDevice()) {
                p.copyFromHost(expAvg[i], host.get(p.name() + ".exp_avg"));
                p.copyFromHost(expAvgSq[i], host.get(p.name() + ".exp_avg_sq"));
            }
        }
    }
}
