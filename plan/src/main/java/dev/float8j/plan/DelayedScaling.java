package dev.float8j.plan;

/**
 * Delayed scaling of one operand (Transformer Engine's recipe): the scale comes from the amaxes recorded at the
 * operand's previous casts instead of from the tensor being cast, so the cast reads its input once, quantizing with a
 * known scale while it records this cast's amax. The scale is fmax / (the reduction of the last historyLength
 * amaxes); the first cast, with no history yet, scales from its own amax (current scaling). A value beyond what the
 * scale allows saturates to ±fmax, and its amax, recorded, enlarges the next cast's range. Only a tensorwise operand
 * can be scaled this way (one amax per cast); {@link QuantSpec} refuses the others.
 *
 * @param historyLength how many past amaxes are kept (1 to 1024; Transformer Engine's default is 1024, 16 is common)
 * @param reduction how the history becomes one amax
 */
public record DelayedScaling(int historyLength, AmaxReduction reduction) {

    /** The longest history accepted. */
    public static final int MAX_HISTORY = 1024;

    /** How the amax history becomes the amax a scale is computed from. */
    public enum AmaxReduction {
        /** The largest amax of the history: safest against a growing tensor. */
        MAX,
        /** The amax of the previous cast alone. */
        MOST_RECENT
    }

    public DelayedScaling {
        if (historyLength < 1 || historyLength > MAX_HISTORY) {
            throw new IllegalArgumentException("an amax history holds 1 to " + MAX_HISTORY + " amaxes, got " + historyLength);
        }
        if (reduction == null) {
            throw new IllegalArgumentException("an amax history needs a reduction (MAX or MOST_RECENT)");
        }
    }

    /** The max over the last historyLength amaxes. */
    public static DelayedScaling maxOfLast(int historyLength) {
        return new DelayedScaling(historyLength, AmaxReduction.MAX);
    }

    @Override
    public String toString() {
        return "delayed(" + reduction.name().toLowerCase() + " of " + historyLength + ")";
    }
}
