package dev.float8j.runtime.nn;

/**
 * Makes a model's linear layers from each one's fully qualified module name and sizes: the one place where a caller
 * decides which layers run in FP8 and with which plan (a {@link Float8Linear}, a class the {@code @Float8} processor
 * wrote through {@link Float8Layers#create}, or a plain {@link Linear}), so the model never changes with the recipe.
 */
@FunctionalInterface
public interface LinearFactory {

    Linear create(String name, int inFeatures, int outFeatures);

    /** Every layer in high precision. */
    static LinearFactory highPrecision() {
        return (name, in, out) -> new Linear(in, out);
    }
}
