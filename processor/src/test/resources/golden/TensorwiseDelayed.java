package golden;

import dev.float8j.annotations.*;
import dev.float8j.runtime.nn.Linear;

@Float8(recipe = Recipe.TENSORWISE, amaxHistory = 16,
        gradWeight = @GemmConfig(gradOutput = @OperandConfig(amaxHistory = 0)))
public class TensorwiseDelayed extends Linear {
    public TensorwiseDelayed(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
