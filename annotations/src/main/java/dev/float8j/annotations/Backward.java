package dev.float8j.annotations;

/** What a layer keeps from forward for the backward gemms when its scaling is not transposeable. */
public enum Backward {
    /** Save the high-precision input; quantize it along the other axis in backward. Most precise, most memory. */
    KEEP_HIGH_PRECISION,
    /** Save the forward's FP8 input; dequantize and requantize it along the other axis in backward. */
    REQUANTIZE,
    /** Quantize the input along both axes in forward and save the backward copy. */
    BOTH_AXES
}
