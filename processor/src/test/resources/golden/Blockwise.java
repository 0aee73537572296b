package golden;

import dev.float8j.annotations.*;
import dev.float8j.runtime.nn.Linear;

@Float8(recipe = Recipe.BLOCKWISE)
public class Blockwise extends Linear {
    public Blockwise(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
