package dev.float8j.runtime.train;

import dev.float8j.runtime.nn.Parameter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Adam with decoupled weight decay (Loshchilov and Hutter): w -= lr·(m̂ / (√v̂ + eps) + weightDecay·w),
 * with bias-corrected moment estimates m̂ and v̂.
 */
public final class AdamW extends ParameterOptimizer {
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final float[][] expAvg;
    private final float[][] expAvgSq;

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
        this.expAvg = zerosLikeParameters();
        this.expAvgSq = zerosLikeParameters();
    }

    /** The usual settings: betas (0.9, 0.999), eps 1e-8. */
    public AdamW(List<Parameter> params, double learningRate, double weightDecay) {
        this(params, learningRate, 0.9, 0.999, 1e-8, weightDecay);
    }

    @Override
    public String kind() {
        return "AdamW(betas=" + beta1 + "," + beta2 + " eps=" + eps + " weightDecay=" + weightDecay + ")";
    }

    @Override
    protected void update(long step) {
        double correction1 = 1 - Math.pow(beta1, step);
        double correction2 = 1 - Math.pow(beta2, step);
        for (int i = 0; i < params.size(); i++) {
            float[] w = params.get(i).value().data();
            float[] g = params.get(i).grad().data();
            float[] m = expAvg[i];
            float[] v = expAvgSq[i];
            for (int j = 0; j < w.length; j++) {
                m[j] = (float) (beta1 * m[j] + (1 - beta1) * g[j]);
                v[j] = (float) (beta2 * v[j] + (1 - beta2) * g[j] * g[j]);
                double update = (m[j] / correction1) / (Math.sqrt(v[j] / correction2) + eps) + weightDecay * w[j];
                w[j] = (float) (w[j] - learningRate * update);
            }
        }
    }

    @Override
    public Map<String, float[]> state() {
        Map<String, float[]> out = new LinkedHashMap<>(OptimizerState.named(params, "exp_avg", expAvg));
        out.putAll(OptimizerState.named(params, "exp_avg_sq", expAvgSq));
        return out;
    }
}
