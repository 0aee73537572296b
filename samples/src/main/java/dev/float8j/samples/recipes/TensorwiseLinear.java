package dev.float8j.samples.recipes;

import dev.float8j.annotations.Backward;
import dev.float8j.annotations.Float8;
import dev.float8j.annotations.GemmConfig;
import dev.float8j.annotations.Recipe;
import dev.float8j.runtime.nn.Linear;

/**
 * One scale per tensor; the forward FP8 x serves grad_weight transposed, so the backward policy changes nothing. The
 * output gemm accumulates fast, as torchao's tensorwise recipe does (its {@code use_fast_accum}); CPU backends sum
 * in F32 and ignore it.
 */
@Float8(recipe = Recipe.TENSORWISE, backward = Backward.KEEP_HIGH_PRECISION,
        output = @GemmConfig(fastAccumulation = true))
public class TensorwiseLinear extends Linear {
    public TensorwiseLinear(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
