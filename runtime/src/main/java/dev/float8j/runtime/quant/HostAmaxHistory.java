package dev.float8j.runtime.quant;

import dev.float8j.plan.DelayedScaling;
import dev.float8j.plan.QuantSpec;

/**
 * An {@link AmaxHistory} in host memory, for the backends that cast on the host: the amaxes as floats, the scale
 * they give the next cast computed here as current scaling computes it from a tensor's own amax.
 */
public final class HostAmaxHistory extends RingAmaxHistory {
    private final float[] amaxes;
    /** The amax of the last cast, until commit records it. */
    private float pending;

    public HostAmaxHistory(DelayedScaling scaling) {
        super(scaling);
        this.amaxes = new float[scaling.historyLength()];
    }

    /** history as a host history, or an IllegalArgumentException naming what it is instead. */
    public static HostAmaxHistory of(AmaxHistory history) {
        if (history instanceof HostAmaxHistory h) {
            return h;
        }
        throw new IllegalArgumentException("a host backend's delayed cast needs a host amax history, got " + history
                + ": make it with this backend's newAmaxHistory");
    }

    /** Records a cast's amax, dropping the oldest once the history is full. */
    public void record(float amax) {
        setPending(amax);
        commit();
    }

    /** Holds amax, read by a cast made with this history, until {@link #commit} records it. */
    public void setPending(float amax) {
        if (!(amax >= 0f && amax <= Float.MAX_VALUE)) {
            throw new IllegalArgumentException("an amax is finite and not negative, got " + amax);
        }
        pending = amax;
        markPending();
    }

    @Override
    protected void storePending(int slot) {
        amaxes[slot] = pending;
    }

    /** The history reduced to one amax (MAX over what is recorded, or the most recent). */
    public float reducedAmax() {
        if (isEmpty()) {
            throw new IllegalStateException("no amax recorded yet");
        }
        if (scaling().reduction() == DelayedScaling.AmaxReduction.MOST_RECENT) {
            return amaxes[newest()];
        }
        float max = 0f;
        for (int i = 0; i < recorded(); i++) {
            max = Math.max(max, amaxes[i]);
        }
        return max;
    }

    /** The scale of the next cast under spec: from {@link #reducedAmax()}, power of two if spec says so. */
    public float scale(QuantSpec spec) {
        return Scales.scale(reducedAmax(), spec.format(), spec.powerOfTwoScales());
    }
}
