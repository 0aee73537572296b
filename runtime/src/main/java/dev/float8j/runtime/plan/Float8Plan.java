package dev.float8j.runtime.plan;

import dev.float8j.annotations.Backward;
import dev.float8j.runtime.Fp8Format;
import dev.float8j.runtime.Gemm;
import dev.float8j.runtime.Operand;
import dev.float8j.runtime.quant.QuantSpec;
import dev.float8j.runtime.quant.ScalingGranularity;

/**
 * The FP8 plan of one linear layer: each of the three gemms in FP8 (a spec per operand) or in high precision,
 * and what forward saves for grad_weight. The same plan drives the generic
 * {@link dev.float8j.runtime.nn.Float8Linear} and the classes the {@code @Float8} processor writes.
 *
 * <p>What is saved for backward follows from the plan (see {@link #savedInput()}); the weight needs nothing
 * saved: grad_input quantizes it again from the high-precision master weight, which the layer always keeps.
 */
public record Float8Plan(GemmPlan output, GemmPlan gradInput, GemmPlan gradWeight, Backward backward) {

    /** Checks that each gemm plan is for its gemm and a backward policy is given. */
    public Float8Plan {
        check(output, Gemm.OUTPUT);
        check(gradInput, Gemm.GRAD_INPUT);
        check(gradWeight, Gemm.GRAD_WEIGHT);
        if (backward == null) {
            throw new IllegalArgumentException("backward is required");
        }
    }

    private static void check(GemmPlan plan, Gemm expected) {
        if (plan == null || plan.gemm() != expected) {
            throw new IllegalArgumentException("expected a plan for the " + GemmPlan.name(expected) + " gemm, got " + plan);
        }
    }

    /** How grad_weight gets the layer input x along axis 0. */
    public enum SavedInput {
        /** Forward saves the high-precision x (grad_weight in high precision, or KEEP_HIGH_PRECISION). */
        HIGH_PRECISION,
        /** Forward saves its FP8 x; a transposeable granularity serves grad_weight as is ({@code alongOtherAxis}). */
        FORWARD_FP8_TRANSPOSED,
        /** Forward saves its FP8 x; backward requantizes it along axis 0 (REQUANTIZE). */
        FORWARD_FP8_REQUANTIZED,
        /** Forward quantizes x along both axes and saves the axis-0 copy (BOTH_AXES). */
        BOTH_AXES_COPY
    }

    /** What forward saves, when every gemm runs as planned (a gemm switched off by Float8Debug saves x in high precision). */
    public SavedInput savedInput() {
        if (!output.fp8() || !gradWeight.fp8()) {
            return SavedInput.HIGH_PRECISION;
        }
        if (transposesForwardInput()) {
            return SavedInput.FORWARD_FP8_TRANSPOSED;
        }
        return switch (backward) {
            case KEEP_HIGH_PRECISION -> SavedInput.HIGH_PRECISION;
            case REQUANTIZE -> SavedInput.FORWARD_FP8_REQUANTIZED;
            case BOTH_AXES -> SavedInput.BOTH_AXES_COPY;
        };
    }

    /** True when grad_weight's x is the output gemm's FP8 x seen along the other axis, exactly. */
    private boolean transposesForwardInput() {
        QuantSpec forward = output.first();
        return forward.granularity().transposeable() && forward.otherAxis().equals(gradWeight.second());
    }

    /** The plan of one gemm. */
    public GemmPlan gemm(Gemm gemm) {
        return switch (gemm) {
            case OUTPUT -> output;
            case GRAD_INPUT -> gradInput;
            case GRAD_WEIGHT -> gradWeight;
        };
    }

    /** A plan with the same granularity for every operand of every gemm, formats as {@link #DEFAULT_FORMAT} says. */
    public static Float8Plan uniform(ScalingGranularity granularity, boolean powerOfTwoScales, Backward backward) {
        return blockwiseLike(granularity, granularity, powerOfTwoScales, backward);
    }

    /** The format of every operand unless a plan says otherwise: E4M3 (docs/annotations.md has the measurement). */
    public static final Fp8Format DEFAULT_FORMAT = Fp8Format.E4M3FN;

    /** Activations and gradients on one granularity, weights on another; default formats. */
    public static Float8Plan blockwiseLike(ScalingGranularity activations, ScalingGranularity weights,
            boolean powerOfTwoScales, Backward backward) {
        return new Float8Plan(
                fp8(Gemm.OUTPUT, activations, weights, powerOfTwoScales),
                fp8(Gemm.GRAD_INPUT, activations, weights, powerOfTwoScales),
                fp8(Gemm.GRAD_WEIGHT, activations, activations, powerOfTwoScales),
                backward);
    }

    /** An FP8 gemm with default formats: the first operand on firstGranularity, the second on secondGranularity. */
    public static GemmPlan fp8(Gemm gemm, ScalingGranularity firstGranularity, ScalingGranularity secondGranularity,
            boolean powerOfTwoScales) {
        return new GemmPlan(gemm,
                new QuantSpec(DEFAULT_FORMAT, firstGranularity, GemmPlan.firstAxis(gemm), powerOfTwoScales),
                new QuantSpec(DEFAULT_FORMAT, secondGranularity, GemmPlan.secondAxis(gemm), powerOfTwoScales));
    }

    /** One scale per tensor everywhere. */
    public static Float8Plan tensorwise() {
        return uniform(ScalingGranularity.TENSORWISE, false, Backward.KEEP_HIGH_PRECISION);
    }

    /** One scale per row along the summed axis everywhere (torchao's rowwise). */
    public static Float8Plan rowwise() {
        return uniform(ScalingGranularity.ROWWISE, false, Backward.KEEP_HIGH_PRECISION);
    }

    /** Rowwise with grad_weight in high precision (torchao's rowwise_with_gw_hp): x needs no second quantization. */
    public static Float8Plan rowwiseGradWeightHighPrecision() {
        Float8Plan rowwise = rowwise();
        return new Float8Plan(rowwise.output(), rowwise.gradInput(), GemmPlan.highPrecision(Gemm.GRAD_WEIGHT),
                Backward.KEEP_HIGH_PRECISION);
    }

    /** DeepSeek-V3: 1x128 tiles for x and dY, 128x128 blocks for W. */
    public static Float8Plan blockwise() {
        return blockwiseLike(ScalingGranularity.TILE_1X128, ScalingGranularity.BLOCK_128X128, false,
                Backward.KEEP_HIGH_PRECISION);
    }

    /** OCP Microscaling: 1x32 blocks with power-of-two scales everywhere. */
    public static Float8Plan mx() {
        return uniform(ScalingGranularity.MX_1X32, true, Backward.KEEP_HIGH_PRECISION);
    }

    /** This plan with another backward policy. */
    public Float8Plan withBackward(Backward policy) {
        return new Float8Plan(output, gradInput, gradWeight, policy);
    }

    /** This plan with one gemm replaced. */
    public Float8Plan with(GemmPlan plan) {
        return new Float8Plan(plan.gemm() == Gemm.OUTPUT ? plan : output, plan.gemm() == Gemm.GRAD_INPUT ? plan : gradInput,
                plan.gemm() == Gemm.GRAD_WEIGHT ? plan : gradWeight, backward);
    }

    /** The spec of operand in gemm, null when that gemm runs in high precision. */
    public QuantSpec spec(Gemm gemm, Operand operand) {
        return gemm(gemm).spec(operand);
    }

    @Override
    public String toString() {
        return "Float8Plan[" + output + ", " + gradInput + ", " + gradWeight + ", backward " + backward + " saves x as "
                + savedInput() + "]";
    }
}
