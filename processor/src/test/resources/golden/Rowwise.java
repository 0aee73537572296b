package golden;

import dev.float8j.annotations.*;
import dev.float8j.runtime.nn.Linear;

@Float8(recipe = Recipe.ROWWISE)
public class Rowwise extends Linear {
    public Rowwise(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
