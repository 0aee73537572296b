package golden;

import dev.float8j.annotations.*;
import dev.float8j.runtime.nn.Linear;

@Float8(recipe = Recipe.TENSORWISE)
public class Tensorwise extends Linear {
    public Tensorwise(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
