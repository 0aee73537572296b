package dev.float8j.runtime.nn;

import java.util.ArrayList;
import java.util.List;

/**
 * A window in which FP8 layers quantize each weight once per spec and reuse the copy: under gradient accumulation,
 * several forward and backward passes run between two optimizer steps on the same weights, so the weight's casts
 * (the output gemm's W along axis 1, grad_input's W along axis 0) are made once per step instead of once per
 * micro-batch. The trainers open one around the passes of each step; a training loop of one's own does the same:
 *
 * <pre>{@code
 * try (WeightCastReuse.Window w = WeightCastReuse.open()) {
 *     for (Batch b : microBatches) { loss(model.forward(b.x())); model.backward(dY); }
 * }
 * optimizer.step();
 * }</pre>
 *
 * <p><b>Never stale.</b> A copy is reused only for the same value tensor at the same {@link Parameter#version()},
 * on the same backend, with the same spec, and only inside the window. Every write float8j makes to a weight moves
 * its version on; code that writes a weight's elements itself inside a window calls {@link Parameter#markChanged()}.
 * Outside a window nothing is cached: a gradient check that perturbs weights between passes sees each change.
 *
 * <p><b>Memory.</b> Until the window closes a layer holds one FP8 copy of its weight per spec it needs: 1 byte per
 * element plus scales (a quarter of the F32 weight), twice that where grad_input needs W along the other axis in a
 * granularity that does not transpose (rowwise, 1x128, MX); tensorwise and 128x128 blocks serve both gemms from one
 * copy, except on a backend that prefers casting both axes at once (the GPU), which holds both. Closing the window gives every copy back through {@code Backend.release}, and a copy is released as soon as
 * its weight changes.
 *
 * <p><b>Switching it off.</b> {@link #setEnabled(boolean)}{@code (false)}, or the system property
 * {@code float8j.reuseWeightCasts=false}, makes every window inert: each pass quantizes its weight again, as outside
 * a window. Float8Debug's switches and observers keep working inside a window: a gemm switched off runs in high
 * precision, and a weight site an observer selects is quantized afresh so that the observer sees each pass.
 *
 * <p>On the CUDA backend, keep the window inside any {@code DeviceScope} that spans the passes (or use no scope):
 * a scope closing while the window is open frees the copies made in it, and their next use fails with "device
 * buffer used after close". Windows belong to the thread that opens them; nested windows join the outermost one.
 */
public final class WeightCastReuse {
    private static volatile boolean enabled = !"false".equalsIgnoreCase(System.getProperty("float8j.reuseWeightCasts"));
    private static final ThreadLocal<Window> OPEN = new ThreadLocal<>();

    private WeightCastReuse() {
    }

    /** Turns reuse on or off for windows opened from now on (on by default). */
    public static void setEnabled(boolean on) {
        enabled = on;
    }

    public static boolean enabled() {
        return enabled;
    }

    /** Opens a window on this thread (or joins the one open); close it before the weights are updated. */
    public static Window open() {
        Window current = OPEN.get();
        if (current != null) {
            current.depth++;
            return current;
        }
        Window w = new Window(enabled);
        OPEN.set(w);
        return w;
    }

    /** The window open on this thread with reuse on, or null. */
    static Window active() {
        Window w = OPEN.get();
        return w != null && w.reusing ? w : null;
    }

    /** One open window: the caches filled in it, emptied when it closes. */
    public static final class Window implements AutoCloseable {
        private final boolean reusing;
        private final List<Runnable> releases = new ArrayList<>();
        private int depth = 1;

        private Window(boolean reusing) {
            this.reusing = reusing;
        }

        /** Runs release when the window closes (once per cache that filled in it). */
        void onClose(Runnable release) {
            releases.add(release);
        }

        @Override
        public void close() {
            if (OPEN.get() != this) {
                throw new IllegalStateException("this weight-cast window is not open on thread '"
                        + Thread.currentThread().getName() + "'");
            }
            if (--depth > 0) {
                return;
            }
            OPEN.remove();
            for (Runnable release : releases) {
                release.run();
            }
        }
    }
}
