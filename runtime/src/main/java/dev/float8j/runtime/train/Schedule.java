package dev.float8j.runtime.train;

/**
 * A learning rate per step (steps count from 0): constant, step decay, or warmup and cosine decay
 * ({@link LearningRateSchedule}). Set it on the optimizer before each step:
 * {@code optimizer.setLearningRate(schedule.rate(step))}.
 */
public interface Schedule {

    /** The learning rate of step (from 0). */
    double rate(long step);

    /** The same rate at every step. */
    static Schedule constant(double rate) {
        if (!(rate > 0) || Double.isInfinite(rate)) {
            throw new IllegalArgumentException("a constant learning rate must be positive and finite, got " + rate);
        }
        return step -> rate;
    }

    /**
     * initial, multiplied by factor after every everySteps steps (PyTorch's {@code StepLR}): step s uses
     * initial · factor^⌊s / everySteps⌋.
     */
    static Schedule stepDecay(double initial, double factor, long everySteps) {
        if (!(initial > 0) || Double.isInfinite(initial) || !(factor > 0 && factor <= 1) || everySteps <= 0) {
            throw new IllegalArgumentException("need initial > 0, 0 < factor <= 1 and everySteps > 0; got initial=" + initial
                    + " factor=" + factor + " everySteps=" + everySteps);
        }
        return step -> initial * Math.pow(factor, Math.floorDiv(Math.max(0, step), everySteps));
    }

    /** Linear warmup to peak, then cosine decay to minRate at totalSteps (see {@link LearningRateSchedule}). */
    static Schedule warmupCosine(double peak, double minRate, long warmupSteps, long totalSteps) {
        return new LearningRateSchedule(peak, minRate, warmupSteps, totalSteps);
    }
}
