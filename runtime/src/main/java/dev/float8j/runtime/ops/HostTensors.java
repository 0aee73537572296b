package dev.float8j.runtime.ops;

import dev.float8j.runtime.BFloat16;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import java.util.Arrays;

/** Reading and making host tensors for {@link ReferenceModelOps}, and the shape checks its ops share. */
final class HostTensors {
    private HostTensors() {
    }

    /** The elements of t as floats (a copy), or an error naming the op when t lives on a device. */
    static float[] read(String op, Tensor t) {
        requireHost(op, t);
        return t.toFloatArray();
    }

    /** The F32 backing array of t (no copy), for parameters and gradients that the op updates in place. */
    static float[] f32(String op, String what, Tensor t) {
        requireHost(op, t);
        if (t.dtype() != DType.F32) {
            throw new IllegalArgumentException(op + ": " + what + " must be F32, got " + t);
        }
        return t.data();
    }

    static void requireHost(String op, Tensor t) {
        if (t.isOnDevice()) {
            throw new IllegalArgumentException(op + ": " + t + " lives on a device; the reference ops read host tensors"
                    + " only (use the device backend's ops())");
        }
    }

    /** values as a new tensor of the given dtype and shape (BF16 rounds to nearest even). */
    static Tensor result(double[] values, DType dtype, int... shape) {
        if (dtype == DType.F32) {
            float[] out = new float[values.length];
            for (int i = 0; i < out.length; i++) {
                out[i] = (float) values[i];
            }
            return Tensor.of(out, shape);
        }
        short[] out = new short[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = BFloat16.fromFloat((float) values[i]);
        }
        return Tensor.ofBf16(out, shape);
    }

    static void requireActivation(String op, Tensor t) {
        if (t.dtype() != DType.F32 && t.dtype() != DType.BF16) {
            throw new IllegalArgumentException(op + ": activations are F32 or BF16, got " + t);
        }
    }

    static void requireSameShape(String op, String whatA, Tensor a, String whatB, Tensor b) {
        if (!Arrays.equals(a.shape(), b.shape())) {
            throw new IllegalArgumentException(op + ": " + whatA + " " + Arrays.toString(a.shape()) + " and " + whatB + " "
                    + Arrays.toString(b.shape()) + " must have one shape");
        }
    }

    static void requireMatrix(String op, String what, Tensor t, int rows, int cols) {
        if (t.rows() != rows || t.cols() != cols) {
            throw new IllegalArgumentException(op + ": " + what + " must be a " + rows + " x " + cols + " matrix, got "
                    + Arrays.toString(t.shape()));
        }
    }

    static void requireScalar(String op, String what, Tensor t) {
        requireMatrix(op, what, t, 1, 1);
        f32(op, what, t);
    }
}
