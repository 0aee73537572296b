package dev.float8j.runtime.nn;

import java.util.concurrent.atomic.AtomicReference;

/**
 * Lets one thread at a time into a layer's calls: a second thread arriving while a call is under way gets an
 * {@link IllegalStateException} naming both threads, instead of mixing its saves with the first one's. A layer
 * may still move from thread to thread between calls.
 *
 * <pre>{@code
 * guard.enter();
 * try { ... } finally { guard.exit(); }
 * }</pre>
 */
public final class SingleThreadGuard {
    private final Object owner;
    private final AtomicReference<Thread> user = new AtomicReference<>();

    /** owner names the layer in the error message. */
    public SingleThreadGuard(Object owner) {
        this.owner = owner;
    }

    public void enter() {
        Thread me = Thread.currentThread();
        if (!user.compareAndSet(null, me)) {
            Thread other = user.get();
            throw new IllegalStateException(owner + " is in use by thread '" + (other == null ? "?" : other.getName())
                    + "' while thread '" + me.getName() + "' calls it: a layer may be used by one thread at a time");
        }
    }

    public void exit() {
        user.set(null);
    }

    /** Runs work as one call of the guarded layer, between {@link #enter()} and {@link #exit()}. */
    public void run(Runnable work) {
        enter();
        try {
            work.run();
        } finally {
            exit();
        }
    }
}
