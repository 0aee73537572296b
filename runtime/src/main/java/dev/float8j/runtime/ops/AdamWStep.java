package dev.float8j.runtime.ops;

/** The hyperparameters of one AdamW step; step counts from 1 (it sets the bias corrections). */
public record AdamWStep(float learningRate, float beta1, float beta2, float eps, float weightDecay, long step) {

    /** Checks the ranges above. */
    public AdamWStep {
        if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps > 0 && weightDecay >= 0 && learningRate >= 0
                && step >= 1)) {
            throw new IllegalArgumentException("AdamW needs 0 <= betas < 1, eps > 0, weightDecay >= 0, lr >= 0 and"
                    + " step >= 1; got lr=" + learningRate + " betas=(" + beta1 + ", " + beta2 + ") eps=" + eps
                    + " weightDecay=" + weightDecay + " step=" + step);
        }
    }
}
