package dev.float8j.runtime.backend;

import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.quant.NonFiniteException;
import dev.float8j.runtime.quant.Scales;
import java.util.Arrays;
import java.util.Objects;

/**
 * The scalar backend: every operation written in the most direct way, one element at a time.
 * It is slow on purpose and serves as the oracle the fast backends are tested against.
 */
public final class ReferenceBackend implements Backend {

    @Override
    public String name() {
        return "reference";
    }

    @Override
    public Float8Tensor quantize(Tensor x, QuantSpec spec) {
        Objects.requireNonNull(x, "x");
        Objects.requireNonNull(spec, "spec");
        int rows = x.rows();
        int cols = x.cols();
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                float v = x.get(r, c);
                if (!Float.isFinite(v)) {
                    throw new NonFiniteException(x + " along axis " + spec.axis(), r, c, v);
                }
            }
        }
        int blockRows = spec.blockRows(rows);
        int blockCols = spec.blockCols(cols);
        int scaleRows = ceilDiv(rows, blockRows);
        int scaleCols = ceilDiv(cols, blockCols);
        float[] scales = new float[scaleRows * scaleCols];
        byte[] codes = new byte[rows * cols];
        for (int br = 0; br < scaleRows; br++) {
            for (int bc = 0; bc < scaleCols; bc++) {
                int r0 = br * blockRows;
                int c0 = bc * blockCols;
                int r1 = Math.min(rows, r0 + blockRows);
                int c1 = Math.min(cols, c0 + blockCols);
                float amax = 0f;
                for (int r = r0; r < r1; r++) {
                    for (int c = c0; c < c1; c++) {
                        amax = Math.max(amax, Math.abs(x.get(r, c)));
                    }
                }
                float scale = Scales.scale(amax, spec.format(), spec.powerOfTwoScales());
                scales[br * scaleCols + bc] = scale;
                for (int r = r0; r < r1; r++) {
                    for (int c = c0; c < c1; c++) {
                        codes[r * cols + c] = spec.format().encodeSaturating(x.get(r, c) * scale);
                    }
                }
            }
        }
        return new Float8Tensor(codes, scales, spec, x.dtype(), x.shape());
    }

    @Override
    public Tensor dequantize(Float8Tensor q) {
        float[] out = new float[q.rows() * q.cols()];
        for (int r = 0; r < q.rows(); r++) {
            for (int c = 0; c < q.cols(); c++) {
                out[r * q.cols() + c] = q.dequantized(r, c);
            }
        }
        return Tensor.of(out, q.shape());
    }

    @Override
    public Float8Tensor requantize(Float8Tensor q, QuantSpec spec) {
        Float8Tensor r = quantize(dequantize(q), spec);
        return new Float8Tensor(r.codes(), r.scales(), spec, q.originalDType(), q.shape());
    }

    @Override
    public Tensor gemm(Float8Tensor a, Float8Tensor b) {
        int depth = contractedLength(a.rows(), a.cols(), a.axis());
        int depthB = contractedLength(b.rows(), b.cols(), b.axis());
        if (depth != depthB) {
            throw new IllegalArgumentException("gemm: A " + Arrays.toString(a.shape()) + " along axis " + a.axis()
                    + " sums over " + depth + " elements, B " + Arrays.toString(b.shape()) + " along axis " + b.axis()
                    + " over " + depthB);
        }
        int m = freeLength(a.rows(), a.cols(), a.axis());
        int n = freeLength(b.rows(), b.cols(), b.axis());
        // Scales are constant over K chunks this long (every block extent divides the larger ones).
        int chunk = Math.min(extentAlongAxis(a), extentAlongAxis(b));
        float[] out = new float[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float sum = 0f;
                for (int k0 = 0; k0 < depth; k0 += chunk) {
                    float partial = 0f;
                    for (int k = k0; k < Math.min(depth, k0 + chunk); k++) {
                        partial += code(a, i, k) * code(b, j, k);
                    }
                    sum += partial * ((1f / scale(a, i, k0)) * (1f / scale(b, j, k0)));
                }
                out[i * n + j] = sum;
            }
        }
        return Tensor.of(out, m, n);
    }

    @Override
    public Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis) {
        int depth = contractedLength(a.rows(), a.cols(), aAxis);
        int depthB = contractedLength(b.rows(), b.cols(), bAxis);
        if (depth != depthB) {
            throw new IllegalArgumentException("matmul: A " + Arrays.toString(a.shape()) + " along axis " + aAxis
                    + " sums over " + depth + " elements, B " + Arrays.toString(b.shape()) + " along axis " + bAxis
                    + " over " + depthB);
        }
        int m = freeLength(a.rows(), a.cols(), aAxis);
        int n = freeLength(b.rows(), b.cols(), bAxis);
        float[] out = new float[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float sum = 0f;
                for (int k = 0; k < depth; k++) {
                    sum += element(a, aAxis, i, k) * element(b, bAxis, j, k);
                }
                out[i * n + j] = sum;
            }
        }
        return Tensor.of(out, m, n);
    }

    private static int contractedLength(int rows, int cols, int axis) {
        checkAxis(axis);
        return axis == 1 ? cols : rows;
    }

    private static int freeLength(int rows, int cols, int axis) {
        return axis == 1 ? rows : cols;
    }

    private static void checkAxis(int axis) {
        if (axis != 0 && axis != 1) {
            throw new IllegalArgumentException("axis must be 0 or 1, got " + axis);
        }
    }

    private static int extentAlongAxis(Float8Tensor t) {
        return t.axis() == 1 ? t.blockCols() : t.blockRows();
    }

    private static float element(Tensor t, int axis, int free, int k) {
        return axis == 1 ? t.get(free, k) : t.get(k, free);
    }

    private static float code(Float8Tensor t, int free, int k) {
        byte c = t.axis() == 1 ? t.codes()[free * t.cols() + k] : t.codes()[k * t.cols() + free];
        return t.format().decode(c);
    }

    private static float scale(Float8Tensor t, int free, int k) {
        return t.axis() == 1 ? t.scale(free, k) : t.scale(k, free);
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }
}
