package dev.float8j.runtime.quant;

import dev.float8j.plan.DelayedScaling;
import dev.float8j.plan.QuantSpec;

/**
 * An {@link AmaxHistory} in host memory, for the backends that cast on the host: the amaxes as floats, the scale
 * they give the next cast computed here as current scaling computes it from a tensor's own amax.
 */
public final class HostAmaxHistory implements AmaxHistory {
    private final DelayedScaling scaling;
    private final float[] amaxes;
    private int recorded;
    /** Where the next amax goes. */
    private int next;
    /** The amax of the last cast, until commit records it; NaN: none. */
    private float pending = Float.NaN;

    public HostAmaxHistory(DelayedScaling scaling) {
        this.scaling = scaling;
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

    @Override
    public DelayedScaling scaling() {
        return scaling;
    }

    @Override
    public boolean isEmpty() {
        return recorded == 0;
    }

    /** Records a cast's amax, dropping the oldest once the history is full. */
    public void record(float amax) {
        checkAmax(amax);
        amaxes[next] = amax;
        next = (next + 1) % amaxes.length;
        recorded = Math.min(recorded + 1, amaxes.length);
    }

    /** Holds amax, read by a cast made with this history, until {@link #commit} records it. */
    public void setPending(float amax) {
        checkAmax(amax);
        pending = amax;
    }

    @Override
    public void commit() {
        if (Float.isNaN(pending)) {
            throw new IllegalStateException("no delayed cast has left an amax to record in " + this);
        }
        record(pending);
        pending = Float.NaN;
    }

    private static void checkAmax(float amax) {
        if (!(amax >= 0f && amax <= Float.MAX_VALUE)) {
            throw new IllegalArgumentException("an amax is finite and not negative, got " + amax);
        }
    }

    /** The history reduced to one amax (MAX over what is recorded, or the most recent). */
    public float reducedAmax() {
        if (isEmpty()) {
            throw new IllegalStateException("no amax recorded yet");
        }
        if (scaling.reduction() == DelayedScaling.AmaxReduction.MOST_RECENT) {
            return amaxes[(next - 1 + amaxes.length) % amaxes.length];
        }
        float max = 0f;
        for (int i = 0; i < recorded; i++) {
            max = Math.max(max, amaxes[i]);
        }
        return max;
    }

    /** The scale of the next cast under spec: from {@link #reducedAmax()}, power of two if spec says so. */
    public float scale(QuantSpec spec) {
        return Scales.scale(reducedAmax(), spec.format(), spec.powerOfTwoScales());
    }

    @Override
    public String toString() {
        return "host amax history (" + scaling + ", " + recorded + " recorded)";
    }
}
