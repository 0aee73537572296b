package dev.float8j.runtime.nn;

import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ForwardingBackend;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Another backend with a tally: how often it quantized each watched tensor (by identity) under each spec, and which
 * of the FP8 tensors it made were released. Layers cannot tell it from the backend it wraps.
 */
final class CountingBackend extends ForwardingBackend {
    private final Map<Tensor, List<QuantSpec>> quantizations = new IdentityHashMap<>();
    private final List<Float8Tensor> madeFromWatched = new ArrayList<>();
    private final Set<Float8Tensor> released = java.util.Collections.newSetFromMap(new IdentityHashMap<>());

    CountingBackend(Backend inner) {
        super(inner);
    }

    /** Starts counting the quantizations of t (a weight's value). */
    void watch(Tensor t) {
        quantizations.putIfAbsent(t, new ArrayList<>());
    }

    /** Quantizations of every watched tensor since the last reset. */
    int watchedQuantizations() {
        int n = 0;
        for (List<QuantSpec> specs : quantizations.values()) {
            n += specs.size();
        }
        return n;
    }

    /** The distinct specs each watched tensor was quantized under since the last reset, summed over tensors. */
    int watchedDistinctSpecs() {
        int n = 0;
        for (List<QuantSpec> specs : quantizations.values()) {
            n += new HashSet<>(specs).size();
        }
        return n;
    }

    void resetCounts() {
        quantizations.replaceAll((t, specs) -> new ArrayList<>());
    }

    /** FP8 tensors made from watched tensors that were never released. */
    long unreleasedFromWatched() {
        return madeFromWatched.stream().filter(q -> !released.contains(q)).count();
    }

    @Override
    public String name() {
        return "counting " + inner.name();
    }

    @Override
    public Float8Tensor quantize(Tensor x, QuantSpec spec) {
        Float8Tensor q = inner.quantize(x, spec);
        List<QuantSpec> specs = quantizations.get(x);
        if (specs != null) {
            specs.add(spec);
            madeFromWatched.add(q);
        }
        return q;
    }

    @Override
    public void release(Float8Tensor q) {
        released.add(q);
        inner.release(q);
    }

    @Override
    public void release(Tensor t) {
        inner.release(t);
    }
}
