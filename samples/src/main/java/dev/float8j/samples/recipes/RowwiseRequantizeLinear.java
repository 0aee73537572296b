package dev.float8j.samples.recipes;

import dev.float8j.annotations.Backward;
import dev.float8j.annotations.Float8;
import dev.float8j.annotations.Recipe;
import dev.float8j.runtime.nn.Linear;

/** Rowwise scaling; forward saves its FP8 x, which backward dequantizes and quantizes along M. */
@Float8(recipe = Recipe.ROWWISE, backward = Backward.REQUANTIZE)
public class RowwiseRequantizeLinear extends Linear {
    public RowwiseRequantizeLinear(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
