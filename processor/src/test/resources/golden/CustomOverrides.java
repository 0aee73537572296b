package golden;

import dev.float8j.annotations.*;
import dev.float8j.runtime.nn.Linear;

@Float8(granularity = Granularity.ROWWISE, backward = Backward.BOTH_AXES, powerOfTwoScales = true,
        output = @GemmConfig(input = @OperandConfig(format = Format.E4M3), fastAccumulation = true),
        gradInput = @GemmConfig(highPrecision = true),
        gradWeight = @GemmConfig(gradOutput = @OperandConfig(granularity = OperandGranularity.TENSORWISE, format = Format.E5M2),
                input = @OperandConfig(granularity = OperandGranularity.TILE_1X128)))
public class CustomOverrides extends Linear {
    public CustomOverrides(int inFeatures, int outFeatures) {
        super(inFeatures, outFeatures);
    }
}
