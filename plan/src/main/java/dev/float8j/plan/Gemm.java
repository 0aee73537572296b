package dev.float8j.plan;

/** The three gemms of a linear layer y = x·Wᵀ. */
public enum Gemm {
    /** y = x·Wᵀ (fprop). */
    OUTPUT,
    /** dX = dY·W (dgrad). */
    GRAD_INPUT,
    /** dW = dYᵀ·x (wgrad). */
    GRAD_WEIGHT
}
