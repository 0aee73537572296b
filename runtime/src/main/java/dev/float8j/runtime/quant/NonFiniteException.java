package dev.float8j.runtime.quant;

/**
 * Thrown when a tensor to be quantized holds NaN or an infinity. A NaN amax would give a NaN scale and
 * silently poison every value of the block, so float8j refuses by default and says where it was found.
 */
public final class NonFiniteException extends ArithmeticException {
    /** Row of the first non-finite element. */
    private final int row;
    /** Column of the first non-finite element. */
    private final int col;
    /** The non-finite value. */
    private final float value;

    /** A NaN or infinity found at (row, col) of what. */
    public NonFiniteException(String what, int row, int col, float value) {
        super("cannot quantize " + what + ": element [" + row + ", " + col + "] is " + value
                + " (quantizing NaN or Inf would give a NaN or zero scale for its whole block)");
        this.row = row;
        this.col = col;
        this.value = value;
    }

    /**
     * A non-finite value found where its position is not known (inside a GPU cast, whose kernels report only
     * that a block's amax was NaN or Inf); row and col are then -1 and value is NaN.
     */
    public NonFiniteException(String what) {
        super("cannot quantize " + what + ": it holds NaN or Inf (found on the GPU; element position unknown; "
                + "quantizing NaN or Inf would give a NaN or zero scale for its whole block)");
        this.row = -1;
        this.col = -1;
        this.value = Float.NaN;
    }

    /** Row of the first non-finite element. */
    public int row() {
        return row;
    }

    /** Column of the first non-finite element. */
    public int col() {
        return col;
    }

    /** The non-finite value. */
    public float value() {
        return value;
    }
}
