package golden;

import dev.float8j.annotations.*;
import dev.float8j.runtime.nn.Linear;

@Float8(recipe = Recipe.ROWWISE, backward = Backward.REQUANTIZE)
public class RowwiseRequantize extends Linear {
    public RowwiseRequantize(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
