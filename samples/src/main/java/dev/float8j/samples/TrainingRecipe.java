package dev.float8j.samples;

import dev.float8j.annotations.Backward;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.plan.Float8Plan;

/**
 * A way to train the sample: which linear layers run in FP8 and how. The head (the last projection to
 * the vocabulary) stays in high precision in every recipe, as is usual for FP8 training; the projection
 * and both linears of every block follow the recipe.
 */
public enum TrainingRecipe {
    HIGH_PRECISION("hp", "every gemm in F32", LinearFactory.highPrecision()),
    TENSORWISE("tensorwise", "one scale per tensor", generic(Float8Plan.tensorwise())),
    ROWWISE("rowwise", "rowwise, backward keeps x in F32", generic(Float8Plan.rowwise())),
    ROWWISE_REQUANTIZE("rowwise-requantize", "rowwise, backward requantizes the FP8 x",
            generic(Float8Plan.rowwise().withBackward(Backward.REQUANTIZE))),
    ROWWISE_BOTH_AXES("rowwise-both-axes", "rowwise, forward quantizes x along both axes",
            generic(Float8Plan.rowwise().withBackward(Backward.BOTH_AXES))),
    ROWWISE_GW_HP("rowwise-gw-hp", "rowwise, grad_weight in F32", generic(Float8Plan.rowwiseGradWeightHighPrecision())),
    BLOCKWISE("blockwise", "1x128 activations and gradients, 128x128 weights", generic(Float8Plan.blockwise())),
    MX("mx", "1x32 blocks, power-of-two scales", generic(Float8Plan.mx()));

    private final String id;
    private final String description;
    private final LinearFactory fp8Layers;

    TrainingRecipe(String id, String description, LinearFactory fp8Layers) {
        this.id = id;
        this.description = description;
        this.fp8Layers = fp8Layers;
    }

    private static LinearFactory generic(Float8Plan plan) {
        return (name, in, out) -> new Float8Linear(in, out, plan);
    }

    /** The short name used on the command line and in reports. */
    public String id() {
        return id;
    }

    public String description() {
        return description;
    }

    public boolean isFp8() {
        return this != HIGH_PRECISION;
    }

    /** The factory of the model's linears: the head in high precision, every other layer as the recipe says. */
    public LinearFactory linears() {
        LinearFactory hp = LinearFactory.highPrecision();
        return (name, in, out) -> name.equals("head") ? hp.create(name, in, out) : fp8Layers.create(name, in, out);
    }

    public static TrainingRecipe byId(String id) {
        for (TrainingRecipe r : values()) {
            if (r.id.equals(id)) {
                return r;
            }
        }
        throw new IllegalArgumentException("no recipe '" + id + "'; choose from " + ids());
    }

    public static String ids() {
        StringBuilder sb = new StringBuilder();
        for (TrainingRecipe r : values()) {
            sb.append(sb.isEmpty() ? "" : ", ").append(r.id);
        }
        return sb.toString();
    }
}
