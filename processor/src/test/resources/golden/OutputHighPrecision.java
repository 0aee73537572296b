package golden;

import dev.float8j.annotations.*;
import dev.float8j.runtime.nn.Linear;

@Float8(granularity = Granularity.ROWWISE, output = @GemmConfig(highPrecision = true))
public class OutputHighPrecision extends Linear {
    public OutputHighPrecision(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
