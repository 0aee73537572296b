package dev.float8j.samples;

import dev.float8j.runtime.nn.Float8Layers;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.samples.layers.AttentionOutput;
import dev.float8j.samples.layers.FeedForwardDown;
import dev.float8j.samples.layers.FeedForwardUp;
import dev.float8j.samples.recipes.BlockwiseLinear;
import dev.float8j.samples.recipes.MxLinear;
import dev.float8j.samples.recipes.RowwiseBothAxesLinear;
import dev.float8j.samples.recipes.RowwiseGwHpLinear;
import dev.float8j.samples.recipes.RowwiseLinear;
import dev.float8j.samples.recipes.RowwiseRequantizeLinear;
import dev.float8j.samples.recipes.TensorwiseLinear;

/**
 * A way to train the sample: which linear layers run in FP8 and how. Every FP8 layer is an instance of
 * the class the {@code @Float8} processor generated for an annotated layer (package {@code recipes}, one per
 * recipe, and {@code layers}, one per role); open target/generated-sources/annotations to read their code. The head (the last projection to
 * the vocabulary) stays in high precision in every recipe, as is usual for FP8 training; the projection
 * and both linears of every block follow the recipe.
 */
public enum TrainingRecipe {
    HIGH_PRECISION("hp", "every gemm in F32", LinearFactory.highPrecision()),
    TENSORWISE("tensorwise", "one scale per tensor, output gemm accumulated fast", annotated(TensorwiseLinear.class)),
    ROWWISE("rowwise", "rowwise, output gemm accumulated fast, backward keeps x in F32", annotated(RowwiseLinear.class)),
    ROWWISE_REQUANTIZE("rowwise-requantize", "rowwise, backward requantizes the FP8 x", annotated(RowwiseRequantizeLinear.class)),
    ROWWISE_BOTH_AXES("rowwise-both-axes", "rowwise, forward quantizes x along both axes", annotated(RowwiseBothAxesLinear.class)),
    ROWWISE_GW_HP("rowwise-gw-hp", "rowwise, grad_weight in F32", annotated(RowwiseGwHpLinear.class)),
    BLOCKWISE("blockwise", "1x128 activations and gradients, 128x128 weights", annotated(BlockwiseLinear.class)),
    MX("mx", "1x32 blocks, power-of-two scales", annotated(MxLinear.class)),
    /** A plan per layer role, from the annotated layers of dev.float8j.samples.layers. */
    MIXED("mixed", "proj: AttentionOutput, up: FeedForwardUp, down: FeedForwardDown", (name, in, out) -> {
        if (name.endsWith(".up")) {
            return Float8Layers.create(FeedForwardUp.class, in, out);
        }
        if (name.endsWith(".down")) {
            return Float8Layers.create(FeedForwardDown.class, in, out);
        }
        return Float8Layers.create(AttentionOutput.class, in, out);
    });

    private final String id;
    private final String description;
    private final LinearFactory fp8Layers;

    TrainingRecipe(String id, String description, LinearFactory fp8Layers) {
        this.id = id;
        this.description = description;
        this.fp8Layers = fp8Layers;
    }

    /** Layers of the class the @Float8 processor generated for an annotated one. */
    private static LinearFactory annotated(Class<? extends Linear> layer) {
        return (name, in, out) -> Float8Layers.create(layer, in, out);
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
