package dev.float8j.runtime.train;

import dev.float8j.runtime.nn.Parameter;
import java.util.List;
import java.util.Map;

/** Updates parameters from their gradients. Its state is a set of named tensors, so checkpoints can hold it. */
public interface Optimizer {

    /** A short name recorded in checkpoints, e.g. "AdamW". */
    String kind();

    /** The parameters this optimizer updates. */
    List<Parameter> parameters();

    /** The learning rate of the next step. */
    double learningRate();

    /** Sets the learning rate of the next step, e.g. from a {@link Schedule}. */
    void setLearningRate(double learningRate);

    /** One update from the current gradients. */
    void step();

    /** Updates taken so far. */
    long steps();

    /** Every state array by a name that includes the parameter's name, e.g. {@code head.weight.exp_avg}. */
    Map<String, float[]> state();

    /** Replaces the state with a copy of the given arrays, which must match {@link #state()} name for name, length for length. */
    void loadState(Map<String, float[]> state, long steps);
}
