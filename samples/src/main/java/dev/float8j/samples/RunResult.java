package dev.float8j.samples;

import dev.float8j.runtime.debug.StatisticsObserver;

/**
 * The outcome of training the sample with one recipe.
 *
 * @param trainLosses the loss of every step
 * @param validationSteps the steps after which validation loss was measured (the last one is the final step)
 * @param validationLosses the validation loss at each of those steps
 * @param finalTrainLoss mean training loss over the last steps
 * @param tokensPerSecond tokens per second over the later half of the steps (after JIT warm-up; evaluation excluded), as
 *     {@link Throughput} counts them for the progress bar too
 * @param savedBytes bytes the linear layers held for backward in one step
 * @param statistics FP8 statistics of the last steps (no entries for high precision)
 */
public record RunResult(TrainingRecipe recipe, float[] trainLosses, long[] validationSteps, float[] validationLosses,
        float finalTrainLoss, float finalValidationLoss, double tokensPerSecond, long savedBytes, double trainSeconds,
        StatisticsObserver statistics) {
}
