package golden;

import dev.float8j.annotations.*;
import dev.float8j.runtime.nn.Linear;

@Float8(recipe = Recipe.MX)
public class Mx extends Linear {
    public Mx(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
