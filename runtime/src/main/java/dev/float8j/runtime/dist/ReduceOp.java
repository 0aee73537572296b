package dev.float8j.runtime.dist;

/** How a collective combines the ranks' elements. */
public enum ReduceOp {
    /** The sum over ranks. */
    SUM,
    /** The sum over ranks divided by the number of ranks (gradients of a data-parallel mean loss). */
    MEAN,
    /** The largest value over ranks (a global amax). */
    MAX
}
