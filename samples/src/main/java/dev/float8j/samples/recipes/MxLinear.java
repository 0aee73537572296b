package dev.float8j.samples.recipes;

import dev.float8j.annotations.Backward;
import dev.float8j.annotations.Float8;
import dev.float8j.annotations.Recipe;
import dev.float8j.runtime.nn.Linear;

/** OCP Microscaling: 1x32 blocks with power-of-two scales; forward saves the F32 x. */
@Float8(recipe = Recipe.MX, backward = Backward.KEEP_HIGH_PRECISION)
public class MxLinear extends Linear {
    public MxLinear(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
