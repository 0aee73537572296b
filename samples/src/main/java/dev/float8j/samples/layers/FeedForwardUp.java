package dev.float8j.samples.layers;

import dev.float8j.annotations.Backward;
import dev.float8j.annotations.Float8;
import dev.float8j.annotations.Recipe;
import dev.float8j.runtime.nn.Linear;

/** The up projection of a transformer MLP: rowwise scaling, x saved in FP8 and requantized for grad_weight. */
@Float8(recipe = Recipe.ROWWISE, backward = Backward.REQUANTIZE)
public class FeedForwardUp extends Linear {
    public FeedForwardUp(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
