package dev.float8j.runtime.quant;

import dev.float8j.plan.DelayedScaling;
import dev.float8j.plan.QuantSpec;

/**
 * The amaxes of one operand's last casts under {@link DelayedScaling}, oldest dropped first, and the scale they give
 * the next cast: Scales.scale(reduction of the history), as current scaling computes it from a tensor's own amax.
 */
public final class AmaxHistory {
    private final DelayedScaling scaling;
    private final float[] amaxes;
    private int recorded;
    /** Where the next amax goes. */
    private int next;

    public AmaxHistory(DelayedScaling scaling) {
        this.scaling = scaling;
        this.amaxes = new float[scaling.historyLength()];
    }

    /** True before the first amax is recorded: the first cast scales from its own amax. */
    public boolean isEmpty() {
        return recorded == 0;
    }

    /** Records a cast's amax, dropping the oldest once the history is full. */
    public void record(float amax) {
        if (!(amax >= 0f && amax <= Float.MAX_VALUE)) {
            throw new IllegalArgumentException("an amax is finite and not negative, got " + amax);
        }
        amaxes[next] = amax;
        next = (next + 1) % amaxes.length;
        recorded = Math.min(recorded + 1, amaxes.length);
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
}
