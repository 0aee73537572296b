package dev.float8j.samples.recipes;

import dev.float8j.annotations.Backward;
import dev.float8j.annotations.Float8;
import dev.float8j.annotations.GemmConfig;
import dev.float8j.annotations.Recipe;
import dev.float8j.runtime.nn.Linear;

/**
 * Rowwise scaling; forward saves the F32 x and grad_weight quantizes it along M. The output gemm accumulates fast,
 * as torchao's rowwise recipe does; CPU backends sum in F32 and ignore it.
 */
@Float8(recipe = Recipe.ROWWISE, backward = Backward.KEEP_HIGH_PRECISION,
        output = @GemmConfig(fastAccumulation = true))
public class RowwiseLinear extends Linear {
    public RowwiseLinear(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
