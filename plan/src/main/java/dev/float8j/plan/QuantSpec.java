package dev.float8j.plan;


/**
 * How to quantize one operand: the FP8 format, the granularity, the axis the scales run along
 * (the dimension the gemm sums over: 1 for the columns of a row-major matrix, 0 for its rows), and
 * whether scales are rounded down to powers of two.
 */
public record QuantSpec(Fp8Format format, ScalingGranularity granularity, int axis, boolean powerOfTwoScales) {

    /** Checks format, granularity and axis; granularities that allow only power-of-two scales force them. */
    public QuantSpec {
        if (format == null || granularity == null) {
            throw new IllegalArgumentException("format and granularity are required");
        }
        if (axis != 0 && axis != 1) {
            throw new IllegalArgumentException("axis must be 0 (rows) or 1 (columns), got " + axis);
        }
        if (granularity.powerOfTwoScalesOnly()) {
            powerOfTwoScales = true;
        }
    }

    /** A spec with float (not power-of-two) scales unless the granularity requires them. */
    public static QuantSpec of(Fp8Format format, ScalingGranularity granularity, int axis) {
        return new QuantSpec(format, granularity, axis, false);
    }

    /** The same spec with the scales running along the other axis. */
    public QuantSpec otherAxis() {
        return new QuantSpec(format, granularity, 1 - axis, powerOfTwoScales);
    }

    /** This spec along another axis. */
    public QuantSpec withAxis(int newAxis) {
        return new QuantSpec(format, granularity, newAxis, powerOfTwoScales);
    }

    /** Rows of one scale block in a rows x cols matrix. */
    public int blockRows(int rows) {
        return extent(axis == 0 ? granularity.extentAlongAxis() : granularity.extentAcrossAxis(), rows);
    }

    /** Columns of one scale block in a rows x cols matrix. */
    public int blockCols(int cols) {
        return extent(axis == 1 ? granularity.extentAlongAxis() : granularity.extentAcrossAxis(), cols);
    }

    private static int extent(int blockExtent, int dim) {
        return blockExtent == 0 ? dim : blockExtent;
    }
}
