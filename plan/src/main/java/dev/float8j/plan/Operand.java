package dev.float8j.plan;

/** The tensors that enter a linear layer's gemms. */
public enum Operand {
    /** x, the layer's input. */
    INPUT,
    /** W, the layer's weight. */
    WEIGHT,
    /** dY, the gradient arriving from the layer's output. */
    GRAD_OUTPUT
}
