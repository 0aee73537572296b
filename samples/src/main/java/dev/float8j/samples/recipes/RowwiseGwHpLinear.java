package dev.float8j.samples.recipes;

import dev.float8j.annotations.Backward;
import dev.float8j.annotations.Float8;
import dev.float8j.annotations.Recipe;
import dev.float8j.runtime.nn.Linear;

/** Rowwise scaling with grad_weight in high precision (torchao's rowwise_with_gw_hp). */
@Float8(recipe = Recipe.ROWWISE_GW_HP, backward = Backward.KEEP_HIGH_PRECISION)
public class RowwiseGwHpLinear extends Linear {
    public RowwiseGwHpLinear(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
