package dev.float8j.runtime;

/**
 * The arrays behind a tensor and every view that shares them ({@link Tensor#reshape}, {@code
 * Float8Tensor.alongOtherAxis()}): counts the views not yet released, so that a backend reuses the arrays
 * only after the last of them is released, and only if the arrays belong to these views alone (a backend made
 * them; arrays a caller wrapped may still be referenced by the caller). Used by the tensor classes.
 */
final class SharedStorage {
    private final boolean reusable;
    private int live = 1;

    /** Storage seen by one view so far; reusable when no one outside the views holds the arrays. */
    SharedStorage(boolean reusable) {
        this.reusable = reusable;
    }

    /** Counts one more view of the same arrays. */
    synchronized SharedStorage share() {
        if (live == 0) {
            throw new IllegalStateException("every view of these arrays has been released");
        }
        live++;
        return this;
    }

    /** Counts one view released; true when it was the last one and the arrays may be reused. */
    synchronized boolean release() {
        if (live == 0) {
            throw new IllegalStateException("every view of these arrays has been released already");
        }
        live--;
        return live == 0 && reusable;
    }
}
