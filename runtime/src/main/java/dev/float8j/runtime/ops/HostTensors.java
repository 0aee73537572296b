package dev.float8j.runtime.ops;

import dev.float8j.runtime.BFloat16;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import java.util.Arrays;
import java.util.List;

/**
 * Reading and making host tensors for the host implementations of {@link ModelOps} ({@link ReferenceModelOps}
 * and the CPU backend's), and the checks their ops share, so both refuse bad input with the same message.
 */
public final class HostTensors {
    private HostTensors() {
    }

    /** The elements of t as floats (a copy), or an error naming the op when t lives on a device. */
    public static float[] read(String op, Tensor t) {
        requireHost(op, t);
        return t.toFloatArray();
    }

    /** The F32 backing array of t (no copy), for parameters and gradients that the op updates in place. */
    public static float[] f32(String op, String what, Tensor t) {
        requireHost(op, t);
        if (t.dtype() != DType.F32) {
            throw new IllegalArgumentException(op + ": " + what + " must be F32, got " + t);
        }
        return t.data();
    }

    /** Refuses a device tensor. */
    public static void requireHost(String op, Tensor t) {
        if (t.isOnDevice()) {
            throw new IllegalArgumentException(op + ": " + t + " lives on a device; the host ops read host tensors"
                    + " only (use the device backend's ops())");
        }
    }

    /** values as a new tensor of the given dtype and shape (BF16 rounds to nearest even). */
    public static Tensor result(double[] values, DType dtype, int... shape) {
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

    /** The elements of t as floats: t's own F32 array (no copy: read only), or a decoded copy of a BF16 tensor. */
    public static float[] floats(String op, Tensor t) {
        requireHost(op, t);
        return t.dtype() == DType.F32 ? t.data() : t.toFloatArray();
    }

    /** The F32 sum of host tensors of one shape, added element by element in list order, as an F32 tensor. */
    public static Tensor sumF32(String op, List<Tensor> parts) {
        float[] sum = read(op, parts.get(0));
        for (Tensor part : parts.subList(1, parts.size())) {
            float[] values = floats(op, part);
            for (int i = 0; i < sum.length; i++) {
                sum[i] += values[i];
            }
        }
        return Tensor.of(sum, parts.get(0).shape());
    }

    /** values as a tensor of the given dtype and shape: values itself for F32, rounded once to nearest even for BF16. */
    public static Tensor result(float[] values, DType dtype, int... shape) {
        if (dtype == DType.F32) {
            return Tensor.of(values, shape);
        }
        short[] out = new short[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = BFloat16.fromFloat(values[i]);
        }
        return Tensor.ofBf16(out, shape);
    }

    /** The ids, each checked to lie in [0, vocabulary). */
    public static int[] checkIds(String op, TokenIds ids, int vocabulary) {
        int[] tokens = ids.hostIds();
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= vocabulary) {
                throw new IllegalArgumentException(op + ": token " + tokens[i] + " at position " + i
                        + " is outside the vocabulary [0, " + vocabulary + ")");
            }
        }
        return tokens;
    }

    /** Refuses a dtype other than F32 and BF16. */
    public static void requireActivation(String op, Tensor t) {
        if (t.dtype() != DType.F32 && t.dtype() != DType.BF16) {
            throw new IllegalArgumentException(op + ": activations are F32 or BF16, got " + t);
        }
    }

    /** Refuses two shapes that differ. */
    public static void requireSameShape(String op, String whatA, Tensor a, String whatB, Tensor b) {
        if (!Arrays.equals(a.shape(), b.shape())) {
            throw new IllegalArgumentException(op + ": " + whatA + " " + Arrays.toString(a.shape()) + " and " + whatB + " "
                    + Arrays.toString(b.shape()) + " must have one shape");
        }
    }

    /** Refuses a matrix view of other sizes. */
    public static void requireMatrix(String op, String what, Tensor t, int rows, int cols) {
        if (t.rows() != rows || t.cols() != cols) {
            throw new IllegalArgumentException(op + ": " + what + " must be a " + rows + " x " + cols + " matrix, got "
                    + Arrays.toString(t.shape()));
        }
    }

    /** Refuses anything but a [1, 1] F32 host tensor. */
    public static void requireScalar(String op, String what, Tensor t) {
        requireMatrix(op, what, t, 1, 1);
        f32(op, what, t);
    }
}
