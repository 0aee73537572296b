package dev.float8j.runtime.nn;

import dev.float8j.runtime.Tensor;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;

/**
 * Root-mean-square normalization over the last dimension with a learned gain:
 * y = x / sqrt(mean(x²) + eps) · gain. Row sums are taken in double, in order, so results are reproducible.
 */
public final class RMSNorm extends Module implements Layer {
    private final int dim;
    private final float eps;
    private final Parameter gain;
    private final Deque<Saved> saved = new ArrayDeque<>();
    private final SingleThreadGuard guard = new SingleThreadGuard(this);

    private record Saved(Tensor x, float[] inverseRms) {
    }

    public RMSNorm(int dim) {
        this(dim, 1e-6f);
    }

    public RMSNorm(int dim, float eps) {
        if (dim <= 0) {
            throw new IllegalArgumentException("RMSNorm needs a positive dimension, got " + dim);
        }
        this.dim = dim;
        this.eps = eps;
        float[] ones = new float[dim];
        Arrays.fill(ones, 1f);
        this.gain = parameter("weight", Tensor.of(ones, 1, dim));
    }

    public Parameter gain() {
        return gain;
    }

    @Override
    public Tensor forward(Tensor x) {
        guard.enter();
        try {
            return forwardOnce(x);
        } finally {
            guard.exit();
        }
    }

    @Override
    public Tensor backward(Tensor gradOutput) {
        guard.enter();
        try {
            return backwardOnce(gradOutput);
        } finally {
            guard.exit();
        }
    }

    private Tensor forwardOnce(Tensor x) {
        if (x.cols() != dim) {
            throw new IllegalArgumentException(this + ": input of shape " + Arrays.toString(x.shape())
                    + " does not end in dim=" + dim);
        }
        int rows = x.rows();
        float[] in = x.toFloatArray();
        float[] g = gain.value().data();
        float[] out = new float[in.length];
        float[] inverseRms = new float[rows];
        for (int r = 0; r < rows; r++) {
            int base = r * dim;
            double sumSquares = 0;
            for (int c = 0; c < dim; c++) {
                sumSquares += (double) in[base + c] * in[base + c];
            }
            float inv = (float) (1 / Math.sqrt(sumSquares / dim + eps));
            inverseRms[r] = inv;
            for (int c = 0; c < dim; c++) {
                out[base + c] = in[base + c] * inv * g[c];
            }
        }
        if (GradMode.isEnabled()) {
            saved.push(new Saved(Tensor.of(in, x.shape()), inverseRms));  // in is a copy: x may be reused
        }
        return Tensor.of(out, x.shape());
    }

    private Tensor backwardOnce(Tensor gradOutput) {
        if (saved.isEmpty()) {
            throw new IllegalStateException(this + ": backward called without a matching forward");
        }
        Saved s = saved.peek();
        if (gradOutput.size() != s.x().size()) {
            throw new IllegalArgumentException(this + ": gradient " + gradOutput + " does not match the input " + s.x());
        }
        float[] in = s.x().toFloatArray();
        float[] dy = gradOutput.toFloatArray();
        float[] g = gain.value().data();
        float[] dGain = new float[dim];
        float[] dx = new float[in.length];
        int rows = in.length / dim;
        for (int r = 0; r < rows; r++) {
            int base = r * dim;
            float inv = s.inverseRms()[r];
            // dx = inv · (dxhat − xhat · mean(dxhat · xhat)), with xhat = x·inv and dxhat = dy·gain
            double dot = 0;
            for (int c = 0; c < dim; c++) {
                float xhat = in[base + c] * inv;
                dot += (double) dy[base + c] * g[c] * xhat;
                dGain[c] += dy[base + c] * xhat;
            }
            float meanDot = (float) (dot / dim);
            for (int c = 0; c < dim; c++) {
                float xhat = in[base + c] * inv;
                dx[base + c] = inv * (dy[base + c] * g[c] - xhat * meanDot);
            }
        }
        saved.pop();
        gain.accumulateGrad(Tensor.of(dGain, 1, dim));
        return Tensor.of(dx, s.x().shape());
    }

    @Override
    protected void discardOwnSaved() {
        guard.enter();
        try {
            saved.clear();
        } finally {
            guard.exit();
        }
    }
}
