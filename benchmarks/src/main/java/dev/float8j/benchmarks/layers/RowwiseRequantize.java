package dev.float8j.benchmarks.layers;

import dev.float8j.annotations.Backward;
import dev.float8j.annotations.Float8;
import dev.float8j.annotations.Recipe;
import dev.float8j.runtime.nn.Linear;

/** The plan of the generated-vs-generic benchmark: every gemm in FP8, x requantized for grad_weight. */
@Float8(recipe = Recipe.ROWWISE, backward = Backward.REQUANTIZE)
public class RowwiseRequantize extends Linear {
    public RowwiseRequantize(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
