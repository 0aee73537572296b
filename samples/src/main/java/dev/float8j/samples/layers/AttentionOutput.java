package dev.float8j.samples.layers;

import dev.float8j.annotations.Float8;
import dev.float8j.annotations.Format;
import dev.float8j.annotations.GemmConfig;
import dev.float8j.annotations.OperandConfig;
import dev.float8j.annotations.Recipe;
import dev.float8j.runtime.nn.Linear;

/** The attention output projection: rowwise, grad_weight in high precision, dY for grad_input in E5M2. */
@Float8(recipe = Recipe.ROWWISE_GW_HP,
        gradInput = @GemmConfig(gradOutput = @OperandConfig(format = Format.E5M2)))
public class AttentionOutput extends Linear {
    public AttentionOutput(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
