package dev.float8j.runtime.train;

/**
 * Linear warmup from 0 to the peak over warmupSteps, then cosine decay to minRate at totalSteps
 * (and minRate after). Steps count from 0; step s uses rate(s). {@link Schedule} has constant and step decay too.
 */
public record LearningRateSchedule(double peak, double minRate, long warmupSteps, long totalSteps) implements Schedule {

    /** Checks the ranges. */
    public LearningRateSchedule {
        if (!(peak > 0 && minRate >= 0 && minRate <= peak && warmupSteps >= 0 && totalSteps > warmupSteps)) {
            throw new IllegalArgumentException("need peak > 0, 0 <= minRate <= peak and 0 <= warmupSteps < totalSteps; got peak="
                    + peak + " minRate=" + minRate + " warmup=" + warmupSteps + " total=" + totalSteps);
        }
    }

    @Override
    public double rate(long step) {
        if (step < warmupSteps) {
            return peak * (step + 1) / warmupSteps;
        }
        if (step >= totalSteps) {
            return minRate;
        }
        double progress = (double) (step - warmupSteps) / (totalSteps - warmupSteps);
        return minRate + 0.5 * (peak - minRate) * (1 + Math.cos(Math.PI * progress));
    }
}
