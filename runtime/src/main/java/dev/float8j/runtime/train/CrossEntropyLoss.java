package dev.float8j.runtime.train;

import dev.float8j.runtime.Tensor;
import java.util.Arrays;

/**
 * Mean cross-entropy of logits [N, classes] against integer targets, through a stable log-softmax
 * (the row maximum is subtracted before exponentiating). {@link #forward} remembers the softmax, so
 * {@link #backward} returns (softmax − onehot) / N.
 */
public final class CrossEntropyLoss {
    private float[] softmax;
    private int[] targets;
    private int classes;

    /** The mean loss; throws if a target is out of range or the loss is not finite. */
    public float forward(Tensor logits, int[] targets) {
        int n = logits.rows();
        int c = logits.cols();
        if (targets.length != n) {
            throw new IllegalArgumentException("cross-entropy: logits " + Arrays.toString(logits.shape()) + " have " + n
                    + " rows but " + targets.length + " targets were given");
        }
        float[] x = logits.toFloatArray();
        float[] p = new float[x.length];
        double total = 0;
        for (int r = 0; r < n; r++) {
            int t = targets[r];
            if (t < 0 || t >= c) {
                throw new IllegalArgumentException("cross-entropy: target " + t + " of row " + r + " is outside [0, " + c + ")");
            }
            int base = r * c;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < c; j++) {
                max = Math.max(max, x[base + j]);
            }
            double sum = 0;
            for (int j = 0; j < c; j++) {
                double e = Math.exp(x[base + j] - max);
                p[base + j] = (float) e;
                sum += e;
            }
            double logSum = Math.log(sum);
            for (int j = 0; j < c; j++) {
                p[base + j] = (float) (p[base + j] / sum);
            }
            total += logSum - (x[base + t] - max);
        }
        float loss = (float) (total / n);
        if (!Float.isFinite(loss)) {
            throw new ArithmeticException("cross-entropy loss is " + loss + ": the logits hold NaN or Inf"
                    + " (training diverged; lower the learning rate or check the inputs)");
        }
        this.softmax = p;
        this.targets = targets.clone();
        this.classes = c;
        return loss;
    }

    /** The gradient of the mean loss with respect to the logits of the last forward. */
    public Tensor backward() {
        if (softmax == null) {
            throw new IllegalStateException("cross-entropy: backward called without a forward");
        }
        int n = targets.length;
        float[] g = softmax;
        float inv = 1f / n;
        for (int r = 0; r < n; r++) {
            g[r * classes + targets[r]] -= 1f;
        }
        for (int i = 0; i < g.length; i++) {
            g[i] *= inv;
        }
        softmax = null;
        return Tensor.of(g, n, classes);
    }
}
