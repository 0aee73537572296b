package dev.float8j.runtime;

import java.util.Arrays;
import java.util.Objects;

/**
 * A dense, row-major tensor of F32 or BF16 elements, with at least two dimensions, on the host or (made by a
 * backend such as CUDA, see {@link #onDevice}) on an accelerator. Element access needs a host tensor: a device
 * tensor says so, and {@link Backend#toHost(Tensor)} copies it.
 *
 * <p>Every operation views it as a matrix of {@link #rows()} (the product of all leading dimensions)
 * by {@link #cols()} (the last dimension). Gemms never need a transposed copy: they take the axis
 * each operand is contracted along (see {@link Backend}).
 */
public final class Tensor {
    private final int[] shape;
    private final DType dtype;
    private final float[] f32;
    private final short[] bf16;
    private final DeviceData device;
    private final int rows;
    private final int cols;
    private final StorageView view;

    private Tensor(int[] shape, DType dtype, float[] f32, short[] bf16, DeviceData device) {
        this(shape, dtype, f32, bf16, device, new StorageView(new SharedStorage(false)));
    }

    private Tensor(int[] shape, DType dtype, float[] f32, short[] bf16, DeviceData device, StorageView view) {
        this.view = view;
        this.shape = shape;
        this.dtype = dtype;
        this.f32 = f32;
        this.bf16 = bf16;
        this.device = device;
        this.cols = shape[shape.length - 1];
        this.rows = count(shape) / cols;
    }

    /** Wraps data (no copy) as an F32 tensor of the given shape. */
    public static Tensor of(float[] data, int... shape) {
        Objects.requireNonNull(data, "data");
        int[] s = checkShape(shape);
        if (data.length != count(s)) {
            throw new IllegalArgumentException("data holds " + data.length + " elements, shape " + Arrays.toString(s)
                    + " needs " + count(s));
        }
        return new Tensor(s, DType.F32, data, null, null);
    }

    /**
     * Wraps data (no copy) as an F32 tensor that alone holds it: once it and every view of it are released
     * ({@link Backend#release(Tensor)}), a backend may reuse data for another result. For backends, which make
     * such arrays; a caller that keeps a reference to data must use {@link #of} instead.
     */
    public static Tensor ofReusable(float[] data, int... shape) {
        Tensor t = of(data, shape);
        return new Tensor(t.shape, DType.F32, data, null, null, new StorageView(new SharedStorage(true)));
    }

    /** Wraps bfloat16 bits (no copy) as a BF16 tensor of the given shape. */
    public static Tensor ofBf16(short[] bits, int... shape) {
        Objects.requireNonNull(bits, "bits");
        int[] s = checkShape(shape);
        if (bits.length != count(s)) {
            throw new IllegalArgumentException("data holds " + bits.length + " elements, shape " + Arrays.toString(s)
                    + " needs " + count(s));
        }
        return new Tensor(s, DType.BF16, null, bits, null);
    }

    /** As {@link #ofReusable}, for bfloat16 bits: a backend may reuse them once the tensor and its views are released. */
    public static Tensor ofReusableBf16(short[] bits, int... shape) {
        Tensor t = ofBf16(bits, shape);
        return new Tensor(t.shape, DType.BF16, null, bits, null, new StorageView(new SharedStorage(true)));
    }

    /** A tensor of zeros on the host. */
    public static Tensor zeros(DType dtype, int... shape) {
        Objects.requireNonNull(dtype, "dtype");
        int[] s = checkShape(shape);
        int n = count(s);
        return dtype == DType.F32 ? new Tensor(s, dtype, new float[n], null, null)
                : new Tensor(s, dtype, null, new short[n], null);
    }

    /**
     * A tensor whose elements live on an accelerator, in data; for backends, which alone can read data. The tensor
     * and its views alone hold data: once every one of them is released, the backend may free it.
     */
    public static Tensor onDevice(DeviceData data, DType dtype, int... shape) {
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(dtype, "dtype");
        return new Tensor(checkShape(shape), dtype, null, null, data, new StorageView(new SharedStorage(true)));
    }

    /** True when the elements live on an accelerator (see {@link #deviceData()}). */
    public boolean isOnDevice() {
        return device != null;
    }

    /** The accelerator memory of a device tensor. */
    public DeviceData deviceData() {
        requireLive();
        if (device == null) {
            throw new IllegalStateException(this + " lives on the host");
        }
        return device;
    }

    private void requireHost() {
        requireLive();
        if (device != null) {
            throw new IllegalStateException(this + " lives on " + device.device()
                    + "; copy it to the host with backend.toHost(tensor) to read its elements");
        }
    }

    private void requireLive() {
        view.requireLive(this, "elements");
    }

    /**
     * Marks this tensor released: every later access to its elements throws. For backends (callers use
     * {@link Backend#release(Tensor)}). True when the arrays may now be reused: no other view of them is live
     * and they belong to tensors alone (see {@link #ofReusable}).
     *
     * @throws IllegalStateException if it was released already (reusing its arrays twice would corrupt data)
     */
    public boolean markReleased() {
        return view.release(this, "elements");
    }

    /** True after {@link #markReleased}. */
    public boolean isReleased() {
        return view.isReleased();
    }

    private static int[] checkShape(int[] shape) {
        if (shape == null || shape.length < 2) {
            throw new IllegalArgumentException("a tensor needs at least 2 dimensions, got shape " + Arrays.toString(shape));
        }
        for (int d : shape) {
            if (d <= 0) {
                throw new IllegalArgumentException("every dimension must be positive, got shape " + Arrays.toString(shape));
            }
        }
        if (count(shape) > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has more than 2^31 elements");
        }
        return shape.clone();
    }

    private static int count(int[] shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n > Integer.MAX_VALUE ? Integer.MAX_VALUE : (int) n;
    }

    /** The element type. */
    public DType dtype() {
        return dtype;
    }

    /** A copy of the shape. */
    public int[] shape() {
        return shape.clone();
    }

    /** The length of dimension i. */
    public int dim(int i) {
        return shape[i];
    }

    /** The number of dimensions. */
    public int rank() {
        return shape.length;
    }

    /** The number of elements. */
    public int size() {
        return count(shape);
    }

    /** The product of all dimensions but the last. */
    public int rows() {
        return rows;
    }

    /** The last dimension. */
    public int cols() {
        return cols;
    }

    /** Element (r, c) of the matrix view, as a float. */
    public float get(int r, int c) {
        requireHost();
        int i = index(r, c);
        return dtype == DType.F32 ? f32[i] : BFloat16.toFloat(bf16[i]);
    }

    /** Stores value at (r, c); a BF16 tensor rounds it to nearest even. */
    public void set(int r, int c, float value) {
        requireHost();
        int i = index(r, c);
        if (dtype == DType.F32) {
            f32[i] = value;
        } else {
            bf16[i] = BFloat16.fromFloat(value);
        }
    }

    /** The row-major index of (r, c); a column past the last would silently read the next row, so both are checked. */
    private int index(int r, int c) {
        if (r < 0 || r >= rows || c < 0 || c >= cols) {
            throw new IndexOutOfBoundsException("element [" + r + ", " + c + "] is outside the " + rows + "x" + cols
                    + " matrix view of " + this);
        }
        return r * cols + c;
    }

    /** Element i in row-major order, as a float. */
    public float getFlat(int i) {
        requireHost();
        return dtype == DType.F32 ? f32[i] : BFloat16.toFloat(bf16[i]);
    }

    /** The F32 backing array (no copy); BF16 tensors have none. */
    public float[] data() {
        requireHost();
        if (dtype != DType.F32) {
            throw new IllegalStateException("a " + dtype + " tensor has no float[] backing array; use toFloatArray()");
        }
        return f32;
    }

    /** The BF16 backing array (no copy); F32 tensors have none. */
    public short[] bf16Data() {
        requireHost();
        if (dtype != DType.BF16) {
            throw new IllegalStateException("a " + dtype + " tensor has no short[] backing array");
        }
        return bf16;
    }

    /** The elements in row-major order as a new float array. */
    public float[] toFloatArray() {
        requireHost();
        if (dtype == DType.F32) {
            return f32.clone();
        }
        float[] out = new float[bf16.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = BFloat16.toFloat(bf16[i]);
        }
        return out;
    }

    /** This tensor in another dtype (a copy; F32 to BF16 rounds to nearest even). */
    public Tensor to(DType target) {
        requireHost();
        if (target == DType.F32) {
            return Tensor.of(toFloatArray(), shape);
        }
        short[] out = new short[size()];
        if (dtype == DType.BF16) {
            System.arraycopy(bf16, 0, out, 0, out.length);
        } else {
            for (int i = 0; i < out.length; i++) {
                out[i] = BFloat16.fromFloat(f32[i]);
            }
        }
        return Tensor.ofBf16(out, shape);
    }

    /** The same elements under another shape with the same element count (a view for F32 and BF16 alike). */
    public Tensor reshape(int... newShape) {
        requireLive();
        int[] s = checkShape(newShape);
        if (count(s) != size()) {
            throw new IllegalArgumentException("cannot reshape " + Arrays.toString(shape) + " to " + Arrays.toString(s));
        }
        return new Tensor(s, dtype, f32, bf16, device, view.share());
    }

    /**
     * As {@link #reshape}, for a tensor the caller owns and will not use again: the result takes over this
     * tensor's hold on the storage instead of adding one, and this tensor is released. This tensor itself comes
     * back when the shape is already newShape. A function that made y2d returns {@code y2d.reshapeOwned(shape)}
     * so that releasing the result alone frees the memory.
     */
    public Tensor reshapeOwned(int... newShape) {
        requireLive();
        int[] s = checkShape(newShape);
        if (Arrays.equals(s, shape)) {
            return this;
        }
        if (count(s) != size()) {
            throw new IllegalArgumentException("cannot reshape " + Arrays.toString(shape) + " to " + Arrays.toString(s));
        }
        return new Tensor(s, dtype, f32, bf16, device, view.handOver(this, "elements"));
    }

    /** A copy with its own storage, of a host tensor. */
    public Tensor copy() {
        requireHost();
        return new Tensor(shape.clone(), dtype, f32 == null ? null : f32.clone(), bf16 == null ? null : bf16.clone(), null);
    }

    /** Bytes held by the elements. */
    public long bytes() {
        return (long) size() * dtype.bytes();
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape) + " " + dtype + (device == null ? "" : " on " + device.device())
                + (view.isReleased() ? " (released)" : "");
    }
}
