package dev.float8j.samples.recipes;

import dev.float8j.annotations.Backward;
import dev.float8j.annotations.Float8;
import dev.float8j.annotations.Recipe;
import dev.float8j.runtime.nn.Linear;

/** Rowwise scaling; forward quantizes x along K and along M in one pass and saves the M copy. */
@Float8(recipe = Recipe.ROWWISE, backward = Backward.BOTH_AXES)
public class RowwiseBothAxesLinear extends Linear {
    public RowwiseBothAxesLinear(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
