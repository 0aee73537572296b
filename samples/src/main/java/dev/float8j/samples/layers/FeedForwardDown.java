package dev.float8j.samples.layers;

import dev.float8j.annotations.Backward;
import dev.float8j.annotations.Float8;
import dev.float8j.annotations.Recipe;
import dev.float8j.runtime.nn.Linear;

/** The down projection of a transformer MLP: DeepSeek-V3 blocks, x quantized along both axes in forward. */
@Float8(recipe = Recipe.BLOCKWISE, backward = Backward.BOTH_AXES)
public class FeedForwardDown extends Linear {
    public FeedForwardDown(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
