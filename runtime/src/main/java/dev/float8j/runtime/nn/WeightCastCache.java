package dev.float8j.runtime.nn;

import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * One layer's FP8 copies of its weight inside a {@link WeightCastReuse} window: at most one per spec, all made from
 * one value tensor at one {@link Parameter#version()} on one backend. A request for another value, version or
 * backend releases every copy first; so does the window's end. A spec whose other-axis copy is held and whose
 * granularity transposes exactly (tensorwise, 128x128 blocks) is served by a view of that copy, sharing its memory.
 * It also holds the weight as the backend's high-precision gemm reads it ({@link Backend#matmulOperand}: a BF16 copy
 * on the GPU beside BF16 activations). The copies belong to the cache: callers must not release them.
 */
final class WeightCastCache {
    private final SingleThreadGuard guard;
    private final Map<QuantSpec, Float8Tensor> copies = new LinkedHashMap<>();
    /** The high-precision gemm's operand by the dtype it meets; the value itself where the backend converts nothing. */
    private final Map<DType, Tensor> operands = new EnumMap<>(DType.class);
    private Tensor value;
    private long version;
    private Backend backend;
    /** The window this cache registered its release with, so that it registers once per window. */
    private WeightCastReuse.Window registeredWith;

    /** guard is the owning layer's: the window's end empties the cache as one call of that layer. */
    WeightCastCache(SingleThreadGuard guard) {
        this.guard = guard;
    }

    /**
     * weight's value in FP8 under spec: the held copy when it was made from the current value and version on this
     * backend, else quantize's result, kept until the weight changes or the window closes. quantizeBothAxes (or null)
     * casts the weight along both axes in one pass, element 0 along 1 and element 1 along 0, for a backend that
     * would otherwise transpose the first copy where the second is used (see Backend#prefersBothAxesCasts): both are
     * kept.
     */
    Float8Tensor get(WeightCastReuse.Window window, Backend backend, Parameter weight, QuantSpec spec,
            Supplier<Float8Tensor> quantize, Supplier<Float8Tensor[]> quantizeBothAxes) {
        refresh(window, backend, weight);
        Float8Tensor held = copies.get(spec);
        if (held != null) {
            return held;
        }
        Float8Tensor otherAxis = copies.get(spec.otherAxis());
        if (otherAxis == null && quantizeBothAxes != null) {
            for (Float8Tensor copy : quantizeBothAxes.get()) {
                copies.put(copy.spec(), copy);
            }
            return copies.get(spec);
        }
        Float8Tensor made = otherAxis != null && spec.granularity().transposeable() ? otherAxis.alongOtherAxis()
                : quantize.get();
        copies.put(spec, made);
        return made;
    }

    /** weight's value as backend's high-precision gemm reads it beside an operand of dtype other, made once. */
    Tensor operand(WeightCastReuse.Window window, Backend backend, Parameter weight, DType other) {
        refresh(window, backend, weight);
        return operands.computeIfAbsent(other, o -> backend.matmulOperand(weight.value(), o));
    }

    /** Empties the cache when weight's value, version or the backend changed, and joins window's end once. */
    private void refresh(WeightCastReuse.Window window, Backend backend, Parameter weight) {
        if (weight.value() != value || weight.version() != version || backend != this.backend) {
            clear();
            value = weight.value();
            version = weight.version();
            this.backend = backend;
        }
        if (registeredWith != window) {
            registeredWith = window;
            window.onClose(() -> guard.run(this::windowClosed));
        }
    }

    /** Gives every copy back to its backend (views first, so the memory is free once the last goes). */
    void clear() {
        Float8Tensor[] held = copies.values().toArray(Float8Tensor[]::new);
        copies.clear();
        for (int i = held.length - 1; i >= 0; i--) {
            backend.release(held[i]);
        }
        for (Tensor t : operands.values()) {
            if (t != value) {
                backend.release(t);
            }
        }
        operands.clear();
        value = null;
        backend = null;
    }

    private void windowClosed() {
        clear();
        registeredWith = null;
    }

    /** How many FP8 copies are held now (tests and memory reports). */
    int size() {
        return copies.size();
    }
}
