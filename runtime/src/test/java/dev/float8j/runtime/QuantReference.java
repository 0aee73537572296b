package dev.float8j.runtime;

import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import java.util.SplittableRandom;

/**
 * Quantization written out independently for the tests: the block shape of every granularity, the scale
 * formula and the dequantized values, each in the plainest form.
 */
final class QuantReference {
    static final float EPS = 1e-12f;

    private QuantReference() {
    }

    /** {rows, cols} of one scale block for a rows x cols matrix scaled along axis. */
    static int[] blockShape(ScalingGranularity g, int axis, int rows, int cols) {
        return switch (g) {
            case TENSORWISE -> new int[] {rows, cols};
            case ROWWISE -> axis == 1 ? new int[] {1, cols} : new int[] {rows, 1};
            case TILE_1X128 -> axis == 1 ? new int[] {1, 128} : new int[] {128, 1};
            case BLOCK_128X128 -> new int[] {128, 128};
            case MX_1X32 -> axis == 1 ? new int[] {1, 32} : new int[] {32, 1};
        };
    }

    /**
     * fmax / max(amax, eps) in float32, optionally the largest power of two not above it, but never so small that
     * fmax / scale overflows.
     */
    static float scale(float amax, float fmax, boolean powerOfTwo) {
        float s = fmax / Math.max(amax, EPS);
        if (!powerOfTwo) {
            return s;
        }
        float p = 1f;
        while (p * 2 <= s) {
            p *= 2;
        }
        while (p > s) {
            p /= 2;
        }
        while (Float.isInfinite(fmax / p)) {
            p *= 2;
        }
        return p;
    }

    /** The scales a quantizer must produce, row-major over the block grid. */
    static float[] scales(float[][] x, QuantSpec spec) {
        int rows = x.length;
        int cols = x[0].length;
        int[] block = blockShape(spec.granularity(), spec.axis(), rows, cols);
        int gridCols = (cols + block[1] - 1) / block[1];
        int gridRows = (rows + block[0] - 1) / block[0];
        float[] amax = new float[gridRows * gridCols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                int b = (r / block[0]) * gridCols + c / block[1];
                amax[b] = Math.max(amax[b], Math.abs(x[r][c]));
            }
        }
        float[] scales = new float[amax.length];
        for (int b = 0; b < amax.length; b++) {
            scales[b] = scale(amax[b], spec.format().max(), spec.powerOfTwoScales());
        }
        return scales;
    }

    /** The block index of element (r, c), row-major over the block grid. */
    static int blockIndex(ScalingGranularity g, int axis, int rows, int cols, int r, int c) {
        int[] block = blockShape(g, axis, rows, cols);
        int gridCols = (cols + block[1] - 1) / block[1];
        return (r / block[0]) * gridCols + c / block[1];
    }

    /** Element (r, c) of q as decode(code) / scale of its block, in double. */
    static double dequantized(Float8Tensor q, int r, int c) {
        int b = blockIndex(q.granularity(), q.axis(), q.rows(), q.cols(), r, c);
        return q.format().decode(q.codes()[r * q.cols() + c]) / (double) q.scales()[b];
    }

    static float[][] matrix(Tensor t) {
        float[][] m = new float[t.rows()][t.cols()];
        for (int r = 0; r < t.rows(); r++) {
            for (int c = 0; c < t.cols(); c++) {
                m[r][c] = t.getFlat(r * t.cols() + c);
            }
        }
        return m;
    }

    /** Gaussian values whose magnitude differs from row to row and column to column, so blocks differ. */
    static Tensor randomTensor(long seed, int... shape) {
        SplittableRandom random = new SplittableRandom(seed);
        Tensor t = Tensor.zeros(DType.F32, shape);
        float[] data = t.data();
        int cols = shape[shape.length - 1];
        for (int i = 0; i < data.length; i++) {
            int r = i / cols;
            int c = i % cols;
            double magnitude = Math.pow(2, (r % 7) - 3 + (c % 5));
            data[i] = (float) (gaussian(random) * magnitude);
        }
        return t;
    }

    static double gaussian(SplittableRandom random) {
        double u1 = 1.0 - random.nextDouble();
        double u2 = random.nextDouble();
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
}
