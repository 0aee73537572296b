package dev.float8j.runtime.nn;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import java.util.Arrays;

/**
 * The input x as an FP8 layer's forward saved it for backward: either the high-precision tensor or an FP8
 * copy (exactly one of the two is set).
 */
record SavedTensor(Tensor highPrecision, Float8Tensor fp8) {

    /** Checks that exactly one of the two is set. */
    public SavedTensor {
        if ((highPrecision == null) == (fp8 == null)) {
            throw new IllegalArgumentException("save either the high-precision tensor or its FP8 copy");
        }
    }

    /** x saved as it is. */
    public static SavedTensor highPrecision(Tensor x) {
        return new SavedTensor(x, null);
    }

    /** x saved as its FP8 copy q. */
    public static SavedTensor fp8(Float8Tensor q) {
        return new SavedTensor(null, q);
    }

    /** True when the FP8 copy was saved. */
    public boolean isFp8() {
        return fp8 != null;
    }

    /** The shape of the input that was saved. */
    public int[] shape() {
        return isFp8() ? fp8.shape() : highPrecision.shape();
    }

    /** The dtype of the input that was saved, which its gradient dX takes too. */
    public DType dtype() {
        return isFp8() ? fp8.originalDType() : highPrecision.dtype();
    }

    /** Rows of the saved input's matrix view (all but the last dimension). */
    public int rows() {
        return isFp8() ? fp8.rows() : highPrecision.rows();
    }

    /** Bytes held: 4 or 2 per element in high precision, 1 per element plus the scales in FP8. */
    public long bytes() {
        return isFp8() ? fp8.bytes() : highPrecision.bytes();
    }

    /** Throws unless gradOutput has the saved input's shape with the last dimension outFeatures. */
    public void checkGradOutput(Object layer, Tensor gradOutput, int outFeatures) {
        int[] expected = shape();
        expected[expected.length - 1] = outFeatures;
        if (!Arrays.equals(gradOutput.shape(), expected)) {
            throw new IllegalArgumentException(layer + ": gradient of shape " + Arrays.toString(gradOutput.shape())
                    + " does not match the output " + Arrays.toString(expected) + " of the saved forward");
        }
    }

    /** dX, computed as a [rows, inFeatures] matrix and handed over, in the shape of the saved input. */
    public Tensor shapeLikeInput(Tensor dx2d) {
        return dx2d.reshapeOwned(shape());
    }
}
