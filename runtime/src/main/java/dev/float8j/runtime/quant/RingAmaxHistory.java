package dev.float8j.runtime.quant;

import dev.float8j.plan.DelayedScaling;

/**
 * The bookkeeping every {@link AmaxHistory} shares, wherever its amaxes live: a ring of historyLength slots, how many
 * are recorded, where the next goes, and whether a cast has left an amax pending. Subclasses keep the amaxes (host
 * floats, GPU words) and copy the pending one into a slot when {@link #commit} asks.
 */
public abstract class RingAmaxHistory implements AmaxHistory {
    private final DelayedScaling scaling;
    private int recorded;
    /** The slot the next amax goes into. */
    private int next;
    private boolean pending;

    protected RingAmaxHistory(DelayedScaling scaling) {
        this.scaling = scaling;
    }

    @Override
    public final DelayedScaling scaling() {
        return scaling;
    }

    @Override
    public final boolean isEmpty() {
        return recorded == 0;
    }

    /** How many slots hold an amax (at most historyLength); they are slots 0 to recorded - 1 until the ring wraps. */
    protected final int recorded() {
        return recorded;
    }

    /** The slot of the most recent amax; the history must not be empty. */
    protected final int newest() {
        return (next - 1 + scaling.historyLength()) % scaling.historyLength();
    }

    /** Notes that a cast has left an amax pending, for {@link #commit} to record. */
    protected final void markPending() {
        pending = true;
    }

    @Override
    public final void commit() {
        if (!pending) {
            throw new IllegalStateException("no delayed cast has left an amax to record in " + this);
        }
        storePending(next);
        next = (next + 1) % scaling.historyLength();
        recorded = Math.min(recorded + 1, scaling.historyLength());
        pending = false;
    }

    /** Copies the pending amax into slot, overwriting the oldest once the ring is full. */
    protected abstract void storePending(int slot);

    @Override
    public String toString() {
        return getClass().getSimpleName() + " (" + scaling + ", " + recorded + " recorded)";
    }
}
