package dev.float8j.runtime.train;

import dev.float8j.runtime.nn.Parameter;
import java.util.List;
import java.util.Map;

/** Stochastic gradient descent with (PyTorch-style) momentum and L2 weight decay: b = μ·b + g + λ·w; w -= lr·b. */
public final class Sgd implements Optimizer {
    private final List<Parameter> params;
    private final double momentum;
    private final double weightDecay;
    private final float[][] velocity;
    private double learningRate;
    private long steps;

    public Sgd(List<Parameter> params, double learningRate, double momentum, double weightDecay) {
        if (!(momentum >= 0 && momentum < 1 && weightDecay >= 0 && learningRate >= 0)) {
            throw new IllegalArgumentException("SGD needs 0 <= momentum < 1, weightDecay >= 0 and lr >= 0; got lr="
                    + learningRate + " momentum=" + momentum + " weightDecay=" + weightDecay);
        }
        this.params = List.copyOf(params);
        this.learningRate = learningRate;
        this.momentum = momentum;
        this.weightDecay = weightDecay;
        this.velocity = new float[this.params.size()][];
        for (int i = 0; i < this.params.size(); i++) {
            velocity[i] = new float[this.params.get(i).value().size()];
        }
    }

    @Override
    public String kind() {
        return "SGD(momentum=" + momentum + " weightDecay=" + weightDecay + ")";
    }

    @Override
    public List<Parameter> parameters() {
        return params;
    }

    @Override
    public double learningRate() {
        return learningRate;
    }

    @Override
    public void setLearningRate(double learningRate) {
        this.learningRate = learningRate;
    }

    @Override
    public void step() {
        steps++;
        for (int i = 0; i < params.size(); i++) {
            float[] w = params.get(i).value().data();
            float[] g = params.get(i).grad().data();
            float[] b = velocity[i];
            for (int j = 0; j < w.length; j++) {
                float d = (float) (g[j] + weightDecay * w[j]);
                b[j] = steps == 1 ? d : (float) (momentum * b[j] + d);
                w[j] = (float) (w[j] - learningRate * b[j]);
            }
        }
    }

    @Override
    public long steps() {
        return steps;
    }

    @Override
    public Map<String, float[]> state() {
        return OptimizerState.named(params, "momentum_buffer", velocity);
    }

    @Override
    public void loadState(Map<String, float[]> state, long steps) {
        OptimizerState.restore(state(), state);
        this.steps = steps;
    }
}
