package golden;

import dev.float8j.annotations.*;
import dev.float8j.runtime.nn.Linear;

@Float8(recipe = Recipe.ROWWISE_GW_HP)
public class RowwiseGwHp extends Linear {
    public RowwiseGwHp(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
