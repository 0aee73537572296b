package dev.float8j.runtime.train;

import dev.float8j.runtime.Tensor;
import java.util.Arrays;

/**
 * Mean squared error of predictions against targets of the same shape, averaged over every element (PyTorch's
 * {@code MSELoss} with reduction "mean"). {@link #backward} returns 2·(prediction − target) / n in F32.
 */
public final class MeanSquaredError {
    private float[] difference;
    private int[] shape;

    /** The mean of (prediction − target)² over all elements; throws if the shapes differ or the loss is not finite. */
    public float forward(Tensor prediction, Tensor target) {
        if (!Arrays.equals(prediction.shape(), target.shape())) {
            throw new IllegalArgumentException("mean squared error: prediction " + Arrays.toString(prediction.shape())
                    + " and target " + Arrays.toString(target.shape()) + " differ in shape");
        }
        float[] p = prediction.toFloatArray();
        float[] t = target.toFloatArray();
        float[] d = new float[p.length];
        double total = 0;
        for (int i = 0; i < p.length; i++) {
            d[i] = p[i] - t[i];
            total += (double) d[i] * d[i];
        }
        float loss = (float) (total / p.length);
        if (!Float.isFinite(loss)) {
            throw new ArithmeticException("mean squared error is " + loss + ": the predictions or targets hold NaN or Inf"
                    + " (training diverged; lower the learning rate or check the inputs)");
        }
        this.difference = d;
        this.shape = prediction.shape();
        return loss;
    }

    /** The gradient of the last forward's loss with respect to the predictions. */
    public Tensor backward() {
        if (difference == null) {
            throw new IllegalStateException("mean squared error: backward called without a forward");
        }
        float[] g = new float[difference.length];
        float scale = 2f / difference.length;
        for (int i = 0; i < g.length; i++) {
            g[i] = scale * difference[i];
        }
        difference = null;
        return Tensor.of(g, shape);
    }
}
