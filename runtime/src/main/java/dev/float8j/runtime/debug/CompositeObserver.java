package dev.float8j.runtime.debug;

import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import java.util.List;

/** Several observers behind one: a quantization is offered to each that wants it. */
public record CompositeObserver(List<QuantizationObserver> observers) implements QuantizationObserver {

    /** Copies the list. */
    public CompositeObserver {
        observers = List.copyOf(observers);
    }

    @Override
    public boolean wants(Site site, long step) {
        for (QuantizationObserver o : observers) {
            if (o.wants(site, step)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void observe(Site site, long step, Tensor highPrecision, Float8Tensor quantized, Backend backend) {
        for (QuantizationObserver o : observers) {
            if (o.wants(site, step)) {
                o.observe(site, step, highPrecision, quantized, backend);
            }
        }
    }
}
