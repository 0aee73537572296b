package dev.float8j.samples.recipes;

import dev.float8j.annotations.Backward;
import dev.float8j.annotations.Float8;
import dev.float8j.annotations.Recipe;
import dev.float8j.runtime.nn.Linear;

/** DeepSeek-V3 blocks: 1x128 tiles for x and dY, 128x128 for W; forward saves the F32 x. */
@Float8(recipe = Recipe.BLOCKWISE, backward = Backward.KEEP_HIGH_PRECISION)
public class BlockwiseLinear extends Linear {
    public BlockwiseLinear(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
