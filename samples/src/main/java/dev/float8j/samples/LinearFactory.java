package dev.float8j.samples;

import dev.float8j.runtime.nn.Linear;

/**
 * Makes the linear layers of a model, given each one's module name and sizes: the one place where a
 * recipe decides which layers run in FP8 and how, so the model's shape never changes with the recipe.
 */
@FunctionalInterface
public interface LinearFactory {

    Linear create(String name, int inFeatures, int outFeatures);

    /** Every layer in high precision. */
    static LinearFactory highPrecision() {
        return (name, in, out) -> new Linear(in, out);
    }
}
