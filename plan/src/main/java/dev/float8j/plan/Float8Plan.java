package dev.float8j.plan;

import dev.float8j.annotations.Backward;
import dev.float8j.annotations.Recipe;

/**
 * The FP8 plan of one linear layer: each of the three gemms in FP8 (a spec per operand) or in high precision,
 * and what forward saves for grad_weight. The same plan drives the generic
 * {@code dev.float8j.runtime.nn.Float8Linear} and the classes the {@code @Float8} processor writes.
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

    /** Every gemm in high precision: the plan of a plain {@code Linear}. */
    public static Float8Plan highPrecision() {
        return new Float8Plan(GemmPlan.highPrecision(Gemm.OUTPUT), GemmPlan.highPrecision(Gemm.GRAD_INPUT),
                GemmPlan.highPrecision(Gemm.GRAD_WEIGHT), Backward.KEEP_HIGH_PRECISION);
    }

    /** True when at least one gemm runs in FP8. */
    public boolean anyFp8() {
        return output.fp8() || gradInput.fp8() || gradWeight.fp8();
    }

    /** The format of every operand unless a plan says otherwise (see {@link Recipes#DEFAULT_FORMAT}). */
    public static final Fp8Format DEFAULT_FORMAT = Recipes.DEFAULT_FORMAT;

    /** {@link Recipe#TENSORWISE}: one scale per tensor everywhere. */
    public static Float8Plan tensorwise() {
        return Recipes.plan(Recipe.TENSORWISE, Backward.KEEP_HIGH_PRECISION);
    }

    /** {@link Recipe#ROWWISE}: one scale per row along the summed axis everywhere (torchao's rowwise). */
    public static Float8Plan rowwise() {
        return Recipes.plan(Recipe.ROWWISE, Backward.KEEP_HIGH_PRECISION);
    }

    /**
     * {@link Recipe#ROWWISE_GW_HP}: rowwise with grad_weight in high precision (torchao's rowwise_with_gw_hp), so x
     * needs no second quantization.
     */
    public static Float8Plan rowwiseGradWeightHighPrecision() {
        return Recipes.plan(Recipe.ROWWISE_GW_HP, Backward.KEEP_HIGH_PRECISION);
    }

    /** {@link Recipe#BLOCKWISE}: DeepSeek-V3's 1x128 tiles for x and dY, 128x128 blocks for W. */
    public static Float8Plan blockwise() {
        return Recipes.plan(Recipe.BLOCKWISE, Backward.KEEP_HIGH_PRECISION);
    }

    /** {@link Recipe#MX}: OCP Microscaling, 1x32 blocks with power-of-two scales everywhere. */
    public static Float8Plan mx() {
        return Recipes.plan(Recipe.MX, Backward.KEEP_HIGH_PRECISION);
    }

    /**
     * This plan with every tensorwise operand of every FP8 gemm scaled from an amax history (see
     * {@link DelayedScaling}); other granularities keep current scaling.
     */
    public Float8Plan withDelayedScaling(DelayedScaling scaling) {
        Float8Plan plan = this;
        for (Gemm g : Gemm.values()) {
            GemmPlan gemm = gemm(g);
            if (gemm.fp8()) {
                plan = plan.with(new GemmPlan(g, delayedIfTensorwise(gemm.first(), scaling),
                        delayedIfTensorwise(gemm.second(), scaling), gemm.fastAccumulation()));
            }
        }
        return plan;
    }

    private static QuantSpec delayedIfTensorwise(QuantSpec spec, DelayedScaling scaling) {
        return spec.granularity() == ScalingGranularity.TENSORWISE ? spec.withDelayedScaling(scaling) : spec;
    }

    /**
     * This plan with fast accumulation in the given gemms (see {@link GemmPlan}): torchao's default float8 config is
     * {@code withFastAccumulation(Gemm.OUTPUT)}.
     *
     * @throws IllegalArgumentException for a gemm in high precision, or grad_weight
     */
    public Float8Plan withFastAccumulation(Gemm... gemms) {
        Float8Plan plan = this;
        for (Gemm g : gemms) {
            plan = plan.with(plan.gemm(g).withFastAccumulation(true));
        }
        return plan;
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
