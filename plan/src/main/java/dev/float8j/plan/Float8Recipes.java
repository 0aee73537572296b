package dev.float8j.plan;

import dev.float8j.annotations.Backward;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The named recipes, as a PyTorch user knows them from torchao's {@code Float8LinearConfig.from_recipe_name}:
 * each name resolves to one of {@link Float8Plan}'s factories. Names are matched ignoring case, with '-' read as
 * '_', so {@code rowwise-with-gw-hp} works too.
 */
public final class Float8Recipes {
    private static final Map<String, Supplier<Float8Plan>> RECIPES = new LinkedHashMap<>();

    static {
        RECIPES.put("tensorwise", Float8Plan::tensorwise);
        RECIPES.put("tensorwise_delayed", () -> Float8Plan.tensorwise().withDelayedScaling(DelayedScaling.maxOfLast(16)));
        // torchao's defaults: its float8 config accumulates the output gemm fast (Float8GemmConfig(use_fast_accum=True))
        RECIPES.put("tensorwise_fast_accum", () -> Float8Plan.tensorwise().withFastAccumulation(Gemm.OUTPUT));
        RECIPES.put("rowwise", Float8Plan::rowwise);
        RECIPES.put("rowwise_fast_accum", () -> Float8Plan.rowwise().withFastAccumulation(Gemm.OUTPUT));
        RECIPES.put("rowwise_with_gw_hp", Float8Plan::rowwiseGradWeightHighPrecision);
        RECIPES.put("rowwise_requantize", () -> Float8Plan.rowwise().withBackward(Backward.REQUANTIZE));
        RECIPES.put("rowwise_both_axes", () -> Float8Plan.rowwise().withBackward(Backward.BOTH_AXES));
        RECIPES.put("blockwise", Float8Plan::blockwise);
        RECIPES.put("mx", Float8Plan::mx);
    }

    private Float8Recipes() {
    }

    /**
     * The plan of a named recipe.
     *
     * @throws IllegalArgumentException for an unknown name, listing the valid ones
     */
    public static Float8Plan named(String name) {
        Supplier<Float8Plan> recipe = name == null ? null : RECIPES.get(name.strip().toLowerCase(Locale.ROOT).replace('-', '_'));
        if (recipe == null) {
            throw new IllegalArgumentException("no FP8 recipe '" + name + "'; valid names: " + String.join(", ", names()));
        }
        return recipe.get();
    }

    /** Every recipe name, in a fixed order. */
    public static Set<String> names() {
        return java.util.Collections.unmodifiableSet(RECIPES.keySet());
    }
}
