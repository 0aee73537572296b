package dev.float8j.runtime.train;

import dev.float8j.runtime.nn.Parameter;
import java.util.List;
import java.util.Map;

/** Stochastic gradient descent with (PyTorch-style) momentum and L2 weight decay: b = μ·b + g + λ·w; w -= lr·b. */
public final class Sgd extends ParameterOptimizer {
    private final double momentum;
    private final double weightDecay;
    private final float[][] velocity;

    /** SGD over params with PyTorch-style momentum (0 for none) and L2 weight decay. */
    public Sgd(List<Parameter> params, double learningRate, double momentum, double weightDecay) {
        if (!(momentum >= 0 && momentum < 1 && weightDecay >= 0 && learningRate >= 0)) {
            throw new IllegalArgumentException("SGD needs 0 <= momentum < 1, weightDecay >= 0 and lr >= 0; got lr="
                    + learningRate + " momentum=" + momentum + " weightDecay=" + weightDecay);
        }
        super(params, learningRate);
        this.momentum = momentum;
        this.weightDecay = weightDecay;
        this.velocity = zerosLikeParameters();
    }

    @Override
    public String kind() {
        return "SGD(momentum=" + momentum + " weightDecay=" + weightDecay + ")";
    }

    @Override
    protected void update(long step) {
        for (int i = 0; i < params.size(); i++) {
            float[] w = params.get(i).value().data();
            float[] g = params.get(i).grad().data();
            float[] b = velocity[i];
            for (int j = 0; j < w.length; j++) {
                float d = (float) (g[j] + weightDecay * w[j]);
                b[j] = step == 1 ? d : (float) (momentum * b[j] + d);
                w[j] = (float) (w[j] - learningRate * b[j]);
            }
        }
    }

    @Override
    public Map<String, float[]> state() {
        return OptimizerState.named(params, "momentum_buffer", velocity);
    }
}
