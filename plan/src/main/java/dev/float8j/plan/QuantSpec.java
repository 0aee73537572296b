package dev.float8j.plan;


/**
 * How to quantize one operand: the FP8 format, the granularity, the axis the scales run along
 * (the dimension the gemm sums over: 1 for the columns of a row-major matrix, 0 for its rows),
 * whether scales are rounded down to powers of two, and where the scale comes from: the tensor itself (current
 * scaling, delayed null) or an amax history ({@link DelayedScaling}, tensorwise only).
 */
public record QuantSpec(Fp8Format format, ScalingGranularity granularity, int axis, boolean powerOfTwoScales,
        DelayedScaling delayed) {

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
        if (delayed != null && granularity != ScalingGranularity.TENSORWISE) {
            throw new IllegalArgumentException("delayed scaling keeps one amax history per operand, so it needs one scale"
                    + " per tensor (TENSORWISE), not " + granularity);
        }
    }

    /** A spec with current scaling: each cast takes its scale from the tensor it quantizes. */
    public QuantSpec(Fp8Format format, ScalingGranularity granularity, int axis, boolean powerOfTwoScales) {
        this(format, granularity, axis, powerOfTwoScales, null);
    }

    /** A spec with float (not power-of-two) scales unless the granularity requires them. */
    public static QuantSpec of(Fp8Format format, ScalingGranularity granularity, int axis) {
        return new QuantSpec(format, granularity, axis, false);
    }

    /** The same spec with the scales running along the other axis. */
    public QuantSpec otherAxis() {
        return new QuantSpec(format, granularity, 1 - axis, powerOfTwoScales, delayed);
    }

    /** This spec along another axis. */
    public QuantSpec withAxis(int newAxis) {
        return new QuantSpec(format, granularity, newAxis, powerOfTwoScales, delayed);
    }

    /** This spec with its scale from an amax history (null: current scaling). */
    public QuantSpec withDelayedScaling(DelayedScaling scaling) {
        return new QuantSpec(format, granularity, axis, powerOfTwoScales, scaling);
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

    @Override
    public String toString() {
        return "QuantSpec[format=" + format + ", granularity=" + granularity + ", axis=" + axis + ", powerOfTwoScales="
                + powerOfTwoScales + (delayed == null ? "" : ", " + delayed) + "]";
    }
}
