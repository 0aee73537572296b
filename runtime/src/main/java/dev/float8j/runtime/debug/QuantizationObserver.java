package dev.float8j.runtime.debug;

import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;

/** Sees tensors before and after quantization at the sites it selects. */
public interface QuantizationObserver {

    /** Whether this observer wants the quantization at site during step; asked before any work is done. */
    boolean wants(Site site, long step);

    /**
     * One quantization: the high-precision tensor that went in (for a requantization, the dequantized
     * FP8 tensor) and the FP8 tensor that came out.
     */
    void observe(Site site, long step, Tensor highPrecision, Float8Tensor quantized, Backend backend);
}
