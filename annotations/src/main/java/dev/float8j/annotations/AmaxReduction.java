package dev.float8j.annotations;

/** How a delayed-scaling operand's amax history becomes the amax its scale is computed from. */
public enum AmaxReduction {
    /** The largest amax of the history: safest against a growing tensor (Transformer Engine's default). */
    MAX,
    /** The amax of the previous cast alone. */
    MOST_RECENT
}
