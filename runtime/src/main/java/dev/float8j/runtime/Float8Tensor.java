package dev.float8j.runtime;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.quant.Scales;
import java.util.Arrays;
import java.util.Objects;

/**
 * A quantized tensor: FP8 codes in the row-major layout of the original, plus one float32 scale per block.
 *
 * <p>Element (r, c) dequantizes to {@code format.decode(codes[r * cols + c]) / scale(r, c)}. Scales are
 * stored row-major over the grid of blocks, each block {@code blockRows x blockCols} and clipped at the
 * edges: sizes that are not a multiple of the block get a partial last block with a scale of its own,
 * so no padding is ever stored.
 *
 * <p>A backend with its own memory (CUDA) makes device tensors ({@link #onDevice}): same spec and shape, codes
 * and scales in the backend's layout, readable on the host only after {@code backend.toHost(q)}.
 */
public final class Float8Tensor {
    private final byte[] codes;
    private final float[] scales;
    private final QuantSpec spec;
    private final DType originalDType;
    private final int[] shape;
    private final int rows;
    private final int cols;
    private final int blockRows;
    private final int blockCols;
    private final int scaleCols;
    private final DeviceData device;
    private final StorageView view;

    private Float8Tensor(StorageView view, DeviceData device, QuantSpec spec, DType originalDType, int[] shape) {
        this.view = view;
        this.codes = null;
        this.scales = null;
        this.device = device;
        this.spec = spec;
        this.originalDType = originalDType;
        this.shape = shape.clone();
        this.cols = shape[shape.length - 1];
        long elements = 1;
        for (int d : shape) {
            elements *= d;
        }
        this.rows = (int) (elements / cols);
        this.blockRows = spec.blockRows(rows);
        this.blockCols = spec.blockCols(cols);
        this.scaleCols = ceilDiv(cols, blockCols);
    }

    /**
     * A quantized tensor whose codes and scales live on an accelerator, in data; for backends, which alone can
     * read data.
     */
    public static Float8Tensor onDevice(DeviceData data, QuantSpec spec, DType originalDType, int... shape) {
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(spec, "spec");
        Objects.requireNonNull(originalDType, "originalDType");
        if (shape == null || shape.length < 2) {
            throw new IllegalArgumentException("a Float8Tensor needs at least 2 dimensions, got shape "
                    + Arrays.toString(shape));
        }
        // the tensor and its views alone hold data: once all are released, the backend may free it
        return new Float8Tensor(new StorageView(new SharedStorage(true)), data, spec, originalDType, shape);
    }

    /** True when codes and scales live on an accelerator (see {@link #deviceData()}). */
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

    private void requireLive() {
        view.requireLive(this, "codes and scales");
    }

    /**
     * Marks this tensor released: every later access to its codes and scales throws. For backends (callers use
     * {@code backend.release(q)}). True when the arrays may now be reused: no other view of them
     * ({@link #alongOtherAxis}) is live and they belong to tensors alone (see {@link #ofReusable}).
     *
     * @throws IllegalStateException if it was released already (reusing its arrays twice would corrupt data)
     */
    public boolean markReleased() {
        return view.release(this, "codes and scales");
    }

    /** True after {@link #markReleased}. */
    public boolean isReleased() {
        return view.isReleased();
    }

    private void requireHost() {
        requireLive();
        if (device != null) {
            throw new IllegalStateException(this + " lives on " + device.device()
                    + "; copy it to the host with backend.toHost(q) to read its codes and scales");
        }
    }

    /**
     * A tensor of these codes (wrapped, no copy) and a copy of these scales, so that the scales stay as checked here.
     *
     * @throws IllegalArgumentException if the shape, the number of codes or of scales do not agree, or a scale is not
     *     a finite float of at least {@link Scales#minScale} (below it the largest code would dequantize to Inf), or
     *     not a power of two where the spec requires one
     */
    public Float8Tensor(byte[] codes, float[] scales, QuantSpec spec, DType originalDType, int... shape) {
        this(new StorageView(new SharedStorage(false)), codes, Objects.requireNonNull(scales, "scales").clone(), spec,
                originalDType, shape);
    }

    /**
     * Wraps codes and scales (no copy) as a tensor that alone holds them: once it and every view of it are
     * released, a backend may reuse them for another result. For backends, which make such arrays; a caller that
     * keeps a reference to them must use the constructor instead.
     */
    public static Float8Tensor ofReusable(byte[] codes, float[] scales, QuantSpec spec, DType originalDType,
            int... shape) {
        return new Float8Tensor(new StorageView(new SharedStorage(true)), codes, scales, spec, originalDType, shape);
    }

    private Float8Tensor(StorageView view, byte[] codes, float[] scales, QuantSpec spec, DType originalDType,
            int[] shape) {
        this.view = view;
        Objects.requireNonNull(codes, "codes");
        Objects.requireNonNull(scales, "scales");
        Objects.requireNonNull(spec, "spec");
        Objects.requireNonNull(originalDType, "originalDType");
        if (shape == null || shape.length < 2) {
            throw new IllegalArgumentException("a Float8Tensor needs at least 2 dimensions, got shape "
                    + Arrays.toString(shape));
        }
        long elements = 1;
        for (int d : shape) {
            if (d <= 0) {
                throw new IllegalArgumentException("every dimension must be positive, got shape " + Arrays.toString(shape));
            }
            elements *= d;
        }
        if (elements != codes.length) {
            throw new IllegalArgumentException(codes.length + " codes do not fill shape " + Arrays.toString(shape)
                    + " (" + elements + " elements)");
        }
        this.shape = shape.clone();
        this.cols = shape[shape.length - 1];
        this.rows = codes.length / cols;
        this.codes = codes;
        this.scales = scales;
        this.device = null;
        this.spec = spec;
        this.originalDType = originalDType;
        this.blockRows = spec.blockRows(rows);
        this.blockCols = spec.blockCols(cols);
        this.scaleCols = ceilDiv(cols, blockCols);
        int expectedScales = ceilDiv(rows, blockRows) * scaleCols;
        if (scales.length != expectedScales) {
            throw new IllegalArgumentException(spec.granularity() + " along axis " + spec.axis() + " of shape "
                    + Arrays.toString(shape) + " (a " + rows + "x" + cols + " matrix) needs " + expectedScales
                    + " scales, got " + scales.length);
        }
        // Two compares and a mask per scale, so that MX (a scale per 32 codes) spends little time here.
        boolean powerOfTwoScales = spec.powerOfTwoScales();
        float minScale = Scales.minScale(spec.format());
        for (int i = 0; i < scales.length; i++) {
            float scale = scales[i];
            // every code must dequantize to a finite value: this also refuses NaN, zero, negatives and subnormals
            if (!(scale >= minScale && scale <= Float.MAX_VALUE)) {
                throw new IllegalArgumentException("scale " + i + " of " + Arrays.toString(shape) + " is " + scale
                        + "; scales must be finite and at least " + minScale + " (below it " + spec.format()
                        + "'s largest code, " + spec.format().max() + ", would dequantize to Inf)");
            }
            // a power of two: no mantissa bits (the minimum above is a normal float, so no subnormal gets here)
            if (powerOfTwoScales && (Float.floatToRawIntBits(scale) & 0x007F_FFFF) != 0) {
                throw new IllegalArgumentException("scale " + i + " of " + Arrays.toString(shape) + " is " + scales[i]
                        + ", not a power of two as " + spec + " requires");
            }
        }
    }

    static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    /** The codes in the row-major layout of the original tensor (no copy). */
    public byte[] codes() {
        requireHost();
        return codes;
    }

    /**
     * A copy of the quantization multipliers, row-major over the block grid: writing it changes nothing here.
     * {@link #scale(int, int)} reads one without a copy.
     */
    public float[] scales() {
        requireHost();
        return scales.clone();
    }

    /**
     * The quantization multipliers themselves, no copy: for backends, whose quantize, dequantize and gemm read
     * them on every call, and which pool them once the tensor is released. They never write them; callers use
     * {@link #scales()}, since a changed scale would corrupt this tensor and every view that shares it.
     */
    public float[] scalesForBackend() {
        requireHost();
        return scales;
    }

    /** How this tensor was quantized. */
    public QuantSpec spec() {
        return spec;
    }

    /** The FP8 format of the codes. */
    public Fp8Format format() {
        return spec.format();
    }

    /** The granularity of the scales. */
    public ScalingGranularity granularity() {
        return spec.granularity();
    }

    /** The axis the scales run along: the dimension a gemm sums over. */
    public int axis() {
        return spec.axis();
    }

    /** The dtype of the tensor that was quantized. */
    public DType originalDType() {
        return originalDType;
    }

    /** The logical shape of the original tensor. */
    public int[] shape() {
        return shape.clone();
    }

    /** Rows of the 2-D view. */
    public int rows() {
        return rows;
    }

    /** Columns of the 2-D view. */
    public int cols() {
        return cols;
    }

    /** Rows covered by one scale. */
    public int blockRows() {
        return blockRows;
    }

    /** Columns covered by one scale. */
    public int blockCols() {
        return blockCols;
    }

    /** Rows of the scale grid. */
    public int scaleRows() {
        return ceilDiv(rows, blockRows);
    }

    /** Columns of the scale grid. */
    public int scaleCols() {
        return scaleCols;
    }

    /** The scale of the block holding element (r, c). */
    public float scale(int r, int c) {
        requireHost();
        checkElement(r, c);
        return scales[(r / blockRows) * scaleCols + c / blockCols];
    }

    /** Element (r, c) dequantized: decode(code) / scale. */
    public float dequantized(int r, int c) {
        requireHost();
        checkElement(r, c);
        return spec.format().decode(codes[r * cols + c]) / scale(r, c);
    }

    private void checkElement(int r, int c) {
        if (r < 0 || r >= rows || c < 0 || c >= cols) {
            throw new IndexOutOfBoundsException("element [" + r + ", " + c + "] is outside the " + rows + "x" + cols
                    + " matrix view of " + this);
        }
    }

    /** MX scales as E8M0 codes of the dequantization multipliers 1/scale. */
    public byte[] e8m0Scales() {
        requireHost();
        if (!spec.powerOfTwoScales()) {
            throw new IllegalStateException("only power-of-two scales have an E8M0 form; this tensor is "
                    + spec.granularity() + " without power-of-two scales");
        }
        byte[] out = new byte[scales.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = E8M0.fromExponent(-Math.getExponent(scales[i]));
        }
        return out;
    }

    /**
     * Another view of the same codes and scales under the same spec: it holds them until it is released itself, so
     * that two owners (two layers reading one cast) each release their own.
     */
    public Float8Tensor retain() {
        requireLive();
        if (device != null) {
            return new Float8Tensor(view.share(), device, spec, originalDType, shape);
        }
        return new Float8Tensor(view.share(), codes, scales, spec, originalDType, shape);
    }

    /**
     * The same tensor seen with its scales along the other axis. Only transposeable granularities
     * (tensorwise, 128x128) have one: the codes and scales are shared, nothing is requantized (a device backend
     * whose gemm needs the other layout transposes the codes exactly when it reads this view).
     */
    public Float8Tensor alongOtherAxis() {
        requireLive();
        if (!spec.granularity().transposeable()) {
            throw new IllegalStateException(spec.granularity() + " is not transposeable: requantize along axis "
                    + (1 - spec.axis()) + " instead");
        }
        // Shares the memory and counts as one more view: it is reused only after both are released.
        if (device != null) {
            return new Float8Tensor(view.share(), device, spec.otherAxis(), originalDType, shape);
        }
        return new Float8Tensor(view.share(), codes, scales, spec.otherAxis(), originalDType, shape);
    }

    /** Bytes held: one per code plus four per scale. */
    public long bytes() {
        return (long) rows * cols + 4L * scaleRows() * scaleCols;
    }

    @Override
    public String toString() {
        return "Float8Tensor" + Arrays.toString(shape) + " " + spec.format() + " " + spec.granularity() + " axis="
                + spec.axis() + (spec.powerOfTwoScales() ? " pow2" : "") + (device == null ? "" : " on " + device.device())
                + (view.isReleased() ? " (released)" : "");
    }
}
