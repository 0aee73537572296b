package dev.float8j.plan;

import dev.float8j.annotations.Backward;
import dev.float8j.annotations.Format;
import dev.float8j.annotations.Granularity;
import dev.float8j.annotations.OperandGranularity;
import dev.float8j.annotations.Recipe;

/**
 * The one table from the annotations' vocabulary to plans: what a {@link Recipe} fixes, how a layer
 * {@link Granularity} expands per operand, and which {@link Fp8Format} a {@link Format} means. The {@code @Float8}
 * processor resolves annotations through it, and {@link Float8Plan}'s factories are its recipes, so a recipe means
 * the same plan at compile time and at run time. A new granularity or default is added here, once.
 */
public final class Recipes {
    private Recipes() {
    }

    /** The layer granularity a recipe fixes; null for {@link Recipe#NONE}, whose plan comes from the annotation. */
    public static Granularity granularity(Recipe recipe) {
        return switch (recipe) {
            case NONE -> null;
            case TENSORWISE -> Granularity.TENSORWISE;
            case ROWWISE, ROWWISE_GW_HP -> Granularity.ROWWISE;
            case BLOCKWISE -> Granularity.BLOCKWISE;
            case MX -> Granularity.MX;
        };
    }

    /** True when the recipe itself keeps gemm in high precision (rowwise_with_gw_hp's grad_weight). */
    public static boolean keepsHighPrecision(Recipe recipe, Gemm gemm) {
        return recipe == Recipe.ROWWISE_GW_HP && gemm == Gemm.GRAD_WEIGHT;
    }

    /** The scaling of one operand in a layer of the given granularity: BLOCKWISE is 1x128 for x and dY, 128x128 for W. */
    public static ScalingGranularity expand(Granularity layer, Operand operand) {
        return switch (layer) {
            case TENSORWISE -> ScalingGranularity.TENSORWISE;
            case ROWWISE -> ScalingGranularity.ROWWISE;
            case BLOCKWISE -> operand == Operand.WEIGHT ? ScalingGranularity.BLOCK_128X128 : ScalingGranularity.TILE_1X128;
            case MX -> ScalingGranularity.MX_1X32;
        };
    }

    /** The scaling an operand override names; null for {@link OperandGranularity#INHERIT}. */
    public static ScalingGranularity granularity(OperandGranularity override) {
        return switch (override) {
            case INHERIT -> null;
            case TENSORWISE -> ScalingGranularity.TENSORWISE;
            case ROWWISE -> ScalingGranularity.ROWWISE;
            case TILE_1X128 -> ScalingGranularity.TILE_1X128;
            case BLOCK_128X128 -> ScalingGranularity.BLOCK_128X128;
            case MX_1X32 -> ScalingGranularity.MX_1X32;
        };
    }

    /** The FP8 format an annotation names: {@link Format#DEFAULT} is {@link #DEFAULT_FORMAT}. */
    public static Fp8Format format(Format format) {
        return switch (format) {
            case DEFAULT -> DEFAULT_FORMAT;
            case E4M3 -> Fp8Format.E4M3FN;
            case E5M2 -> Fp8Format.E5M2;
        };
    }

    /** The format of every operand unless a plan says otherwise: E4M3 (docs/annotations.md has the measurement). */
    public static final Fp8Format DEFAULT_FORMAT = Fp8Format.E4M3FN;

    /** The spec of one operand of one FP8 gemm in a layer of the given granularity, default format. */
    public static QuantSpec spec(Gemm gemm, Operand operand, Granularity layer, boolean powerOfTwoScales) {
        int axis = operand == GemmPlan.firstOperand(gemm) ? GemmPlan.firstAxis(gemm) : GemmPlan.secondAxis(gemm);
        return new QuantSpec(DEFAULT_FORMAT, expand(layer, operand), axis, powerOfTwoScales);
    }

    /** Every gemm in FP8 with the layer granularity expanded per operand and default formats. */
    public static Float8Plan plan(Granularity layer, boolean powerOfTwoScales, Backward backward) {
        GemmPlan[] gemms = new GemmPlan[Gemm.values().length];
        for (Gemm g : Gemm.values()) {
            gemms[g.ordinal()] = new GemmPlan(g, spec(g, GemmPlan.firstOperand(g), layer, powerOfTwoScales),
                    spec(g, GemmPlan.secondOperand(g), layer, powerOfTwoScales));
        }
        return new Float8Plan(gemms[Gemm.OUTPUT.ordinal()], gemms[Gemm.GRAD_INPUT.ordinal()],
                gemms[Gemm.GRAD_WEIGHT.ordinal()], backward);
    }

    /** The plan a recipe names, with a backward policy (no overrides). */
    public static Float8Plan plan(Recipe recipe, Backward backward) {
        if (recipe == Recipe.NONE) {
            throw new IllegalArgumentException("Recipe.NONE names no plan: give a granularity instead");
        }
        Float8Plan plan = plan(granularity(recipe), false, backward);
        for (Gemm g : Gemm.values()) {
            if (keepsHighPrecision(recipe, g)) {
                plan = plan.with(GemmPlan.highPrecision(g));
            }
        }
        return plan;
    }
}
