package dev.float8j.runtime.nn;

import dev.float8j.runtime.Tensor;

/**
 * A differentiable step of a model with explicit passes: {@link #forward} saves what its backward needs,
 * {@link #backward} consumes the most recent save (last in, first out), adds parameter gradients and
 * returns the gradient of its input.
 */
public interface Layer {

    /** Computes the output for x and saves what backward needs. */
    Tensor forward(Tensor x);

    /** Takes the gradient of the latest unconsumed forward's output, adds parameter gradients and returns the gradient of its input. */
    Tensor backward(Tensor gradOutput);
}
