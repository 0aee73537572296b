package dev.float8j.runtime.nn;

import dev.float8j.plan.Float8Plan;

/**
 * A linear layer whose FP8 plan is chosen at run time. Its gemms run through the same {@link Float8Matmul} as the
 * classes the {@code @Float8} processor writes for that plan, so the two give bit-identical results.
 *
 * <p>Per forward it saves the input x as {@link Float8Plan#savedInput()} says; nothing is saved for the weight:
 * grad_input quantizes the master weight along axis 0 again. See {@link Linear} for failed calls and threads.
 */
public class Float8Linear extends Linear {
    private final Float8Plan plan;

    /** A layer of the given sizes, without bias, whose gemms follow plan. */
    public Float8Linear(int inFeatures, int outFeatures, Float8Plan plan) {
        this(inFeatures, outFeatures, plan, false);
    }

    /** A layer of the given sizes, with a bias when bias is true, whose gemms follow plan (the bias stays F32). */
    public Float8Linear(int inFeatures, int outFeatures, Float8Plan plan, boolean bias) {
        if (plan == null) {
            throw new IllegalArgumentException("Float8Linear needs a plan, e.g. Float8Plan.rowwise()");
        }
        this.plan = plan;
        super(inFeatures, outFeatures, bias);
    }

    /** The plan every forward and backward follows. */
    @Override
    public Float8Plan plan() {
        return plan;
    }

    /** The plan in words, as checkpoints record it (also for a plan that keeps every gemm in high precision). */
    @Override
    public String float8Plan() {
        return plan.toString();
    }
}
