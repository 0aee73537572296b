package golden;

import dev.float8j.annotations.*;
import dev.float8j.runtime.nn.Linear;

@Float8(recipe = Recipe.ROWWISE)
public class RowwiseBias extends Linear {
    public RowwiseBias(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }

    public RowwiseBias(int inFeatures, int outFeatures, boolean bias) {
        super(inFeatures, outFeatures, bias);
    }
}
