package dev.float8j.annotations;

/** The scaling block of one operand, along the axis its gemm sums over. */
public enum OperandGranularity {
    /** The layer's granularity, expanded for this operand. */
    INHERIT,
    /** One scale per tensor. */
    TENSORWISE,
    /** One scale per row along the summed axis. */
    ROWWISE,
    /** 1x128 tiles along the summed axis. */
    TILE_1X128,
    /** 128x128 blocks; weights only. */
    BLOCK_128X128,
    /** 1x32 blocks with power-of-two E8M0 scales. */
    MX_1X32
}
