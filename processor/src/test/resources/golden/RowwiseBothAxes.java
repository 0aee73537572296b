package golden;

import dev.float8j.annotations.*;
import dev.float8j.runtime.nn.Linear;

@Float8(recipe = Recipe.ROWWISE, backward = Backward.BOTH_AXES)
public class RowwiseBothAxes extends Linear {
    public RowwiseBothAxes(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
