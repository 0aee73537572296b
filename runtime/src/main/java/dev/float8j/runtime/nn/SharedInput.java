package dev.float8j.runtime.nn;

import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * An activation that one or more layers read and that nobody changes until their backward passes: a model's own
 * residual stream, the normed input of attention's q, k and v projections, of a SwiGLU's gate and up. Given one,
 * a layer that keeps its input for backward keeps a view of it instead of a copy, and FP8 layers reading the same
 * SharedInput cast it once per spec: the first layer's cast serves the others (each holds its own view, released
 * as it would release its own cast), where three projections would otherwise each cast x and save the copy.
 *
 * <pre>{@code
 * try (SharedInput in = SharedInput.of(x)) {
 *     q = wq.forward(in); k = wk.forward(in); v = wv.forward(in);
 * }
 * }</pre>
 *
 * A cast is shared only under current scaling (a delayed operand keeps its own amax history) and never at a site a
 * {@link dev.float8j.runtime.debug.Float8Debug} observer selects, so that the observer sees every layer's cast.
 * Closing releases this object's own views of the casts; the layers' views keep what their backward needs. x stays
 * the caller's to release.
 */
public final class SharedInput implements AutoCloseable {
    private final Tensor x;
    /** Casts by their specs (one spec, or the two of a both-axes cast), as this object's own views. */
    private final Map<List<Object>, Float8Tensor[]> casts = new HashMap<>();
    private boolean closed;

    private SharedInput(Tensor x) {
        this.x = Objects.requireNonNull(x, "x");
    }

    /** x, which the caller promises not to change until the backward passes of the layers that read it. */
    public static SharedInput of(Tensor x) {
        return new SharedInput(x);
    }

    /** x; throws once this is closed, so that a layer never starts reading it late. */
    public Tensor tensor() {
        requireOpen();
        return x;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("this SharedInput is closed");
        }
    }

    /**
     * The casts of x under specKey, made by make on the first call for that key; every caller gets views of its own,
     * to release as its own casts.
     */
    Float8Tensor[] casts(List<Object> specKey, Supplier<Float8Tensor[]> make) {
        requireOpen();
        Float8Tensor[] own = casts.get(specKey);
        if (own == null) {
            Float8Tensor[] made = make.get();
            casts.put(List.copyOf(specKey), retained(made));
            return made;
        }
        return retained(own);
    }

    /** A new view of each cast. */
    private static Float8Tensor[] retained(Float8Tensor[] casts) {
        Float8Tensor[] views = new Float8Tensor[casts.length];
        for (int i = 0; i < casts.length; i++) {
            views[i] = casts[i].retain();
        }
        return views;
    }

    /**
     * What a layer keeps of its input x for backward: a view when x is shared (nobody changes it until then), else a
     * copy where x lives, since the caller may change x meanwhile.
     */
    static Tensor keptForBackward(Backend backend, Tensor x, boolean shared) {
        return shared ? x.reshape(x.shape()) : backend.copy(x);
    }

    /** Releases this object's views of the casts; those the layers still hold stay valid. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<Float8Tensor> all = new ArrayList<>();
        casts.values().forEach(c -> all.addAll(List.of(c)));
        casts.clear();
        for (Float8Tensor q : all) {
            Backends.current().release(q);
        }
    }
}
