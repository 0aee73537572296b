package dev.float8j.runtime.train;

import dev.float8j.runtime.nn.Parameter;
import java.util.List;
import java.util.Map;

/** What every optimizer here shares: its parameters, the learning rate, the step count and restoring state. */
abstract class ParameterOptimizer implements Optimizer {
    /** The parameters updated, in the order given. */
    protected final List<Parameter> params;
    /** The learning rate of the next step. */
    protected double learningRate;
    private long steps;

    ParameterOptimizer(List<Parameter> params, double learningRate) {
        this.params = List.copyOf(params);
        this.learningRate = learningRate;
    }

    /** One zero array per parameter, as long as its value: the shape of per-parameter optimizer state. */
    protected final float[][] zerosLikeParameters() {
        float[][] out = new float[params.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = new float[params.get(i).value().size()];
        }
        return out;
    }

    /** Applies update number step (counted from 1) to every parameter. */
    protected abstract void update(long step);

    @Override
    public final void step() {
        steps++;
        try {
            update(steps);
        } catch (RuntimeException | Error e) {
            steps--;  // an update that failed is not counted
            throw e;
        } finally {
            // even a failed update may have written some weights: FP8 copies of the old values must go
            for (Parameter p : params) {
                p.markChanged();
            }
        }
    }

    /**
     * Takes back the count of the last {@link #step()}, whose update the ops skipped where they ran (a guard met a
     * NaN or Inf): the next step then gets the number, and so the bias correction, that the skipped one had, and the
     * state is what it would be had the step never been taken.
     */
    public final void uncountSkippedStep() {
        if (steps == 0) {
            throw new IllegalStateException("no step to take back");
        }
        steps--;
    }

    @Override
    public final List<Parameter> parameters() {
        return params;
    }

    @Override
    public final double learningRate() {
        return learningRate;
    }

    @Override
    public final void setLearningRate(double learningRate) {
        this.learningRate = learningRate;
    }

    @Override
    public final long steps() {
        return steps;
    }

    @Override
    public final void loadState(Map<String, float[]> state, long steps) {
        restoreState(state);
        this.steps = steps;
    }

    /** Copies loaded into the state, all or nothing; state kept off the host overrides this to copy it there. */
    protected void restoreState(Map<String, float[]> loaded) {
        OptimizerState.restore(state(), loaded);
    }
}
