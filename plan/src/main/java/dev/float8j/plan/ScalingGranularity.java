package dev.float8j.plan;

/**
 * How many elements share one scale. Every granularity is a block, clipped at the tensor's edges:
 * {@link #extentAlongAxis} elements along the scaled axis (the one the gemm sums over) by
 * {@link #extentAcrossAxis} elements across it. {@code 0} means the whole dimension.
 */
public enum ScalingGranularity {
    /** One scale for the whole tensor. */
    TENSORWISE(0, 0),
    /** One scale per row along the scaled axis (torchao's axiswise). */
    ROWWISE(0, 1),
    /** 1x128 tiles along the scaled axis (DeepSeek-V3's activations and gradients). */
    TILE_1X128(128, 1),
    /** 128x128 blocks (DeepSeek-V3's weights). */
    BLOCK_128X128(128, 128),
    /** OCP Microscaling: 1x32 blocks with power-of-two (E8M0) scales. */
    MX_1X32(32, 1);

    private final int extentAlongAxis;
    private final int extentAcrossAxis;

    ScalingGranularity(int extentAlongAxis, int extentAcrossAxis) {
        this.extentAlongAxis = extentAlongAxis;
        this.extentAcrossAxis = extentAcrossAxis;
    }

    /** Elements sharing a scale along the scaled axis; 0 for the whole dimension. */
    public int extentAlongAxis() {
        return extentAlongAxis;
    }

    /** Elements sharing a scale across the scaled axis; 0 for the whole dimension. */
    public int extentAcrossAxis() {
        return extentAcrossAxis;
    }

    /**
     * True when quantizing along one axis gives the same codes and scales as along the other, so the
     * backward copy is the forward one, transposed exactly.
     */
    public boolean transposeable() {
        return extentAlongAxis == extentAcrossAxis;
    }

    /** True when scales are powers of two by definition (MX's E8M0). */
    public boolean powerOfTwoScalesOnly() {
        return this == MX_1X32;
    }
}
