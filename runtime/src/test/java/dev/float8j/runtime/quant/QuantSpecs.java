package dev.float8j.runtime.quant;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import java.util.ArrayList;
import java.util.List;

/** Every quantization spec a backend must support, for tests that compare backends over all of them. */
public final class QuantSpecs {
    private QuantSpecs() {
    }

    /** Each granularity, format and axis, with and without power-of-two scales (MX always has them). */
    public static List<QuantSpec> all() {
        List<QuantSpec> specs = new ArrayList<>();
        for (ScalingGranularity g : ScalingGranularity.values()) {
            for (Fp8Format f : Fp8Format.values()) {
                for (int axis = 0; axis < 2; axis++) {
                    specs.add(new QuantSpec(f, g, axis, false));
                    if (!g.powerOfTwoScalesOnly()) {
                        specs.add(new QuantSpec(f, g, axis, true));
                    }
                }
            }
        }
        return specs;
    }
}
