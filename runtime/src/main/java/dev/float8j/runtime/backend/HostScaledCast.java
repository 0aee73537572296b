package dev.float8j.runtime.backend;

import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.quant.NonFiniteException;

/** {@link Backend#quantizeWithScale} on the host, element by element: the reference, and what host backends run. */
final class HostScaledCast {
    private HostScaledCast() {
    }

    static ScaledCast quantize(Tensor x, QuantSpec spec, float scale) {
        int rows = x.rows();
        int cols = x.cols();
        byte[] codes = new byte[rows * cols];
        float amax = 0f;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                float v = x.get(r, c);
                if (!Float.isFinite(v)) {
                    throw new NonFiniteException(x + " along axis " + spec.axis(), r, c, v);
                }
                amax = Math.max(amax, Math.abs(v));
                codes[r * cols + c] = spec.format().encodeSaturating(v * scale);
            }
        }
        return new ScaledCast(new Float8Tensor(codes, new float[] {scale}, spec, x.dtype(), x.shape()), amax);
    }
}
