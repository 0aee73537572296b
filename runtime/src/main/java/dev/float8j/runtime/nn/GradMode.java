package dev.float8j.runtime.nn;

/**
 * Whether forward passes on this thread record what backward needs, as {@code torch.no_grad()} decides in
 * PyTorch. Evaluation and inference run inside {@link #disabled()}: layers then save nothing, so memory stays flat
 * over any number of forward calls, and a backward of such a forward fails as having no matching forward.
 *
 * <pre>{@code
 * try (GradMode.Scope noGrad = GradMode.disabled()) {
 *     Tensor logits = model.forward(tokens);
 * }
 * }</pre>
 */
public final class GradMode {
    private static final ThreadLocal<Boolean> DISABLED = ThreadLocal.withInitial(() -> Boolean.FALSE);

    private GradMode() {
    }

    /** True unless the current thread is inside a {@link #disabled()} scope. */
    public static boolean isEnabled() {
        return !DISABLED.get();
    }

    /** Turns saving off on this thread until the scope is closed; scopes nest. */
    public static Scope disabled() {
        boolean before = DISABLED.get();
        DISABLED.set(Boolean.TRUE);
        return () -> DISABLED.set(before);
    }

    /** A grad-mode setting that {@link #close()} undoes. */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }
}
