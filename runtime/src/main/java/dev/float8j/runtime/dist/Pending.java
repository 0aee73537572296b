package dev.float8j.runtime.dist;

/**
 * A collective that was issued and may still be running: {@link #await} returns its result once it is complete (on
 * NCCL, once the compute stream waits for it; in process, once the rank's communication thread has run it). Await
 * each handle once, in any order; the operand must not change until then.
 */
@FunctionalInterface
public interface Pending<T> {

    T await();

    /** A collective that ran to completion when it was issued. */
    static <T> Pending<T> done(T result) {
        return () -> result;
    }
}
