package dev.float8j.annotations;

/** How many elements share one FP8 scale; DESIGN.md and the README describe each. */
public enum Granularity {
    /** One scale per tensor; transposeable. */
    TENSORWISE,
    /** One scale per row along the dimension the gemm sums over. */
    ROWWISE,
    /** 1x128 tiles for activations and gradients, 128x128 blocks for weights (DeepSeek-V3). */
    BLOCKWISE,
    /** OCP Microscaling: 1x32 blocks with power-of-two E8M0 scales. */
    MX
}
