package dev.float8j.runtime.train;

import dev.float8j.runtime.nn.Parameter;
import java.util.List;

/** Scales all gradients together so that their global L2 norm is at most maxNorm. */
public final class GradientClipping {
    private GradientClipping() {
    }

    /**
     * Clips in place and returns the norm before clipping. The sum of squares runs in double, in
     * parameter order, so the result is reproducible.
     *
     * @throws ArithmeticException if a gradient holds NaN or Inf, naming the parameter
     */
    public static double clipGlobalNorm(List<Parameter> params, double maxNorm) {
        if (!(maxNorm > 0)) {
            throw new IllegalArgumentException("maxNorm must be positive, got " + maxNorm);
        }
        double sumSquares = 0;
        for (Parameter p : params) {
            double own = 0;
            for (float g : p.grad().data()) {
                own += (double) g * g;
            }
            if (!Double.isFinite(own)) {
                throw new ArithmeticException("the gradient of " + p.name() + " holds NaN or Inf");
            }
            sumSquares += own;
        }
        double norm = Math.sqrt(sumSquares);
        if (norm > maxNorm) {
            float factor = (float) (maxNorm / (norm + 1e-6));
            for (Parameter p : params) {
                float[] g = p.grad().data();
                for (int i = 0; i < g.length; i++) {
                    g[i] *= factor;
                }
            }
        }
        return norm;
    }
}
