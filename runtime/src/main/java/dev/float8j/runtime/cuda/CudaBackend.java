package dev.float8j.runtime.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.DeviceData;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.quant.NonFiniteException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;
import java.util.Arrays;
import java.util.function.BiFunction;

/**
 * The CUDA backend: FP8 gemms through cuBLASLt and quantization kernels compiled by NVRTC, reached through
 * the FFM API.
 *
 * <p>Two APIs. The {@link Backend} methods take and return host tensors (upload, compute, download), so the
 * training stack runs unchanged. The device API ({@link #quantize(DeviceTensor, QuantSpec)},
 * {@link #gemm(DeviceFloat8, DeviceFloat8, DType, boolean)}, ...) keeps tensors on the GPU, for speed.
 * Quantized device tensors are K-contiguous (see {@link DeviceFloat8}); a quantization along axis 0 writes the
 * transposed layout directly. All work is queued on one stream; calls are not thread-safe.
 */
public final class CudaBackend implements Backend {
    private static final int MODE_TENSOR = 0;
    private static final int MODE_ROWWISE = 1;
    private static final int MODE_TILE = 2;
    private static final int MODE_BLOCK = 3;
    private static final int IN_F32 = 0;
    private static final int IN_BF16 = 1;
    private static final int IN_FP8 = 2;
    /** Threads per block of the tile kernels (THREADS in kernels.cu). */
    private static final int TILE_THREADS = 512;

    private final CudaContext cuda;

    private CudaBackend(CudaContext cuda) {
        this.cuda = cuda;
    }

    /**
     * The CUDA backend on GPU 0.
     *
     * @throws CudaUnavailableException naming every library tried, when there is no GPU or CUDA library
     */
    public static CudaBackend create() {
        return new CudaBackend(CudaContext.get());
    }

    /** The CUDA backend, or null (with the reason in {@code whyNot[0]} when given) when CUDA is unavailable. */
    public static CudaBackend availableOrNull(String[] whyNot) {
        try {
            return create();
        } catch (CudaException | LinkageError e) {
            if (whyNot != null && whyNot.length > 0) {
                whyNot[0] = e.getMessage();
            }
            return null;
        }
    }

    @Override
    public String name() {
        return "cuda (" + cuda.deviceName + ")";
    }

    public String deviceName() {
        return cuda.deviceName;
    }

    public DeviceAllocator allocator() {
        return cuda.allocator;
    }

    /**
     * Waits until all queued GPU work is done.
     *
     * @throws NonFiniteException if a cast queued since the last check met NaN or Inf
     */
    public void synchronize() {
        cuda.driver.synchronize(cuda.stream);
        cuda.faults.check();
    }

    /** A CUDA event on the backend's stream, for timing. */
    public record Event(MemorySegment handle) {
    }

    public Event newEvent() {
        return new Event(cuda.driver.createEvent());
    }

    public void record(Event event) {
        cuda.driver.record(event.handle(), cuda.stream);
    }

    /** Milliseconds between two recorded events (waits for the second). */
    public float elapsedMillis(Event start, Event end) {
        return cuda.driver.elapsedMillis(start.handle(), end.handle());
    }

    /**
     * Row stride of a 128x128-block scale grid: the number of blocks along K rounded up to 4 (16 bytes), as
     * cuBLASLt reads BLK128x128_32F scales.
     */
    private static int blockScaleStride(int depth) {
        return roundUp(ceilDiv(depth, 128), 4);
    }

    static int roundUp(int n, int multiple) {
        return (n + multiple - 1) / multiple * multiple;
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    // ---------------------------------------------------------------- device API: memory

    public DeviceTensor allocate(int rows, int cols, DType dtype) {
        return new DeviceTensor(cuda.allocator.allocate((long) rows * cols * dtype.bytes()), rows, cols, dtype);
    }

    /** Copies a host tensor (viewed as rows x cols) to the GPU, keeping its dtype. */
    public DeviceTensor upload(Tensor x) {
        DeviceTensor d = allocate(x.rows(), x.cols(), x.dtype());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = x.dtype() == DType.F32 ? arena.allocateFrom(JAVA_FLOAT, x.data())
                    : arena.allocateFrom(JAVA_SHORT, x.bf16Data());
            cuda.driver.copyToDevice(d.pointer(), host, d.bytes());
        }
        return d;
    }

    /** Copies a device tensor back as a rows x cols host tensor. */
    public Tensor download(DeviceTensor d) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(d.bytes(), 8);
            cuda.driver.copyToHost(host, d.pointer(), d.bytes());
            cuda.faults.check();
            return d.dtype() == DType.F32 ? Tensor.of(host.toArray(JAVA_FLOAT), d.rows(), d.cols())
                    : Tensor.ofBf16(host.toArray(JAVA_SHORT), d.rows(), d.cols());
        }
    }

    private DeviceBuffer uploadBytes(byte[] data) {
        DeviceBuffer d = cuda.allocator.allocate(data.length);
        try (Arena arena = Arena.ofConfined()) {
            cuda.driver.copyToDevice(d.pointer(), arena.allocateFrom(JAVA_BYTE, data), data.length);
        }
        return d;
    }

    private DeviceBuffer uploadFloats(float[] data) {
        DeviceBuffer d = cuda.allocator.allocate(4L * data.length);
        try (Arena arena = Arena.ofConfined()) {
            cuda.driver.copyToDevice(d.pointer(), arena.allocateFrom(JAVA_FLOAT, data), 4L * data.length);
        }
        return d;
    }

    private byte[] downloadBytes(DeviceBuffer d, long count) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(count);
            cuda.driver.copyToHost(host, d.pointer(), count);
            cuda.faults.check();
            return host.toArray(JAVA_BYTE);
        }
    }

    private float[] downloadFloats(DeviceBuffer d, int count) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(JAVA_FLOAT, count);
            cuda.driver.copyToHost(host, d.pointer(), 4L * count);
            cuda.faults.check();
            return host.toArray(JAVA_FLOAT);
        }
    }

    // ---------------------------------------------------------------- device API: quantization

    private static int mode(ScalingGranularity g) {
        return switch (g) {
            case TENSORWISE -> MODE_TENSOR;
            case ROWWISE -> MODE_ROWWISE;
            case TILE_1X128, MX_1X32 -> MODE_TILE;
            case BLOCK_128X128 -> MODE_BLOCK;
        };
    }

    private static int tile(ScalingGranularity g) {
        return g == ScalingGranularity.MX_1X32 ? 32 : 128;
    }

    private static int fmt(Fp8Format f) {
        return f == Fp8Format.E4M3FN ? 0 : 1;
    }

    /** Quantizes x along spec's axis into the K-contiguous layout the gemm reads. */
    public DeviceFloat8 quantize(DeviceTensor x, QuantSpec spec) {
        DeviceFloat8[] out = cast(hpSource(x), x.toString(), x.rows(), x.cols(), spec.axis() == 1 ? spec : null,
                spec.axis() == 0 ? spec : null);
        return out[spec.axis() == 1 ? 0 : 1];
    }

    /**
     * Quantizes x along both axes reading it once (twice for tensorwise and rowwise, whose scales need the
     * whole row or column first). Element 0 is along axis 1, element 1 along axis 0; the granularities must match.
     */
    public DeviceFloat8[] quantizeBothAxes(DeviceTensor x, QuantSpec alongColumns, QuantSpec alongRows) {
        return cast(hpSource(x), x.toString(), x.rows(), x.cols(), alongColumns.withAxis(1), alongRows.withAxis(0));
    }

    /** Quantizes q again under spec, from its dequantized values (REQUANTIZE's backward copy). */
    public DeviceFloat8 requantize(DeviceFloat8 q, QuantSpec spec) {
        DeviceFloat8[] out = cast(fp8Source(q), q.toString(), q.rows(), q.cols(), spec.axis() == 1 ? spec : null,
                spec.axis() == 0 ? spec : null);
        return out[spec.axis() == 1 ? 0 : 1];
    }

    /**
     * The other axis's copy of a transposeable (tensorwise or 128x128-block) tensor: the codes transposed, the
     * same scales. This is exact, where {@link #requantize} would round again.
     */
    public DeviceFloat8 transpose(DeviceFloat8 q) {
        if (!q.spec().granularity().transposeable()) {
            throw new IllegalArgumentException(q + " is not transposeable: requantize it along the other axis");
        }
        DeviceFloat8 t = allocateCopy(q.spec().otherAxis(), q.rows(), q.cols());
        transposeMatrix(q.codes().pointer(), q.storedRows(), q.ld(), q.ld(), t.codes().pointer(), t.ld(), 1);
        if (q.spec().granularity() == ScalingGranularity.TENSORWISE) {
            cuda.driver.copyOnDevice(t.scales().pointer(), q.scales().pointer(), 4, cuda.stream);
            cuda.driver.copyOnDevice(t.inverseScales().pointer(), q.inverseScales().pointer(), 4, cuda.stream);
        } else {
            int scaleRows = ceilDiv(q.free(), 128);
            int scaleCols = ceilDiv(q.depth(), 128);
            transposeMatrix(q.scales().pointer(), scaleRows, scaleCols, q.ldScale(), t.scales().pointer(),
                    t.ldScale(), 4);
            transposeMatrix(q.inverseScales().pointer(), scaleRows, scaleCols, q.ldScale(),
                    t.inverseScales().pointer(), t.ldScale(), 4);
        }
        return t;
    }

    private void transposeMatrix(long in, int rows, int cols, int ldIn, long out, int ldOut, int elementBytes) {
        try (Arena arena = Arena.ofConfined()) {
            cuda.driver.launch(cuda.kernels.transpose(), "transpose", ceilDiv(cols, 64), ceilDiv(rows, 64), 1, 256, 1,
                    1, 0, cuda.stream, KernelArgs.pack(arena, in, rows, cols, ldIn, out, ldOut, elementBytes));
        }
    }

    /** The Source struct of kernels.cu (48 bytes). */
    private record Source(long data, int type, int ld, int axis, int fmt, int mode, long scale, int ldScale, int tile) {
        MemorySegment pack(Arena arena) {
            MemorySegment s = arena.allocate(48, 8);
            s.set(JAVA_LONG, 0, data);
            s.set(JAVA_INT, 8, type);
            s.set(JAVA_INT, 12, ld);
            s.set(JAVA_INT, 16, axis);
            s.set(JAVA_INT, 20, fmt);
            s.set(JAVA_INT, 24, mode);
            s.set(JAVA_LONG, 32, scale);
            s.set(JAVA_INT, 40, ldScale);
            s.set(JAVA_INT, 44, tile);
            return s;
        }
    }

    private static Source hpSource(DeviceTensor x) {
        return new Source(x.pointer(), x.dtype() == DType.F32 ? IN_F32 : IN_BF16, x.cols(), 1, 0, 0, 0, 0, 128);
    }

    private static Source fp8Source(DeviceFloat8 q) {
        return new Source(q.codes().pointer(), IN_FP8, q.ld(), q.spec().axis(), fmt(q.spec().format()),
                mode(q.spec().granularity()), q.scales().pointer(), q.ldScale(), tile(q.spec().granularity()));
    }

    /** The Copy struct of kernels.cu (56 bytes); an absent copy has null codes. */
    private MemorySegment packCopy(Arena arena, DeviceFloat8 q, int castId) {
        MemorySegment s = arena.allocate(56, 8);
        s.set(JAVA_INT, 44, castId);
        s.set(JAVA_LONG, 48, cuda.faults.pointer());
        if (q != null) {
            s.set(JAVA_LONG, 0, q.codes().pointer());
            s.set(JAVA_INT, 8, q.ld());
            s.set(JAVA_LONG, 16, q.scales().pointer());
            s.set(JAVA_LONG, 24, q.inverseScales().pointer());
            s.set(JAVA_INT, 32, q.ldScale());
            s.set(JAVA_INT, 36, fmt(q.spec().format()));
            s.set(JAVA_INT, 40, q.spec().powerOfTwoScales() ? 1 : 0);
        }
        return s;
    }

    /** Allocates an empty quantized copy of a rows x cols matrix; padding is zeroed. */
    private DeviceFloat8 allocateCopy(QuantSpec spec, int rows, int cols) {
        int free = spec.axis() == 1 ? rows : cols;
        int depth = spec.axis() == 1 ? cols : rows;
        int freePadded = roundUp(free, 16);
        int ld = roundUp(depth, 16);
        ScalingGranularity g = spec.granularity();
        int scaleCount;
        int ldScale;
        switch (mode(g)) {
            case MODE_TENSOR -> {
                scaleCount = 1;
                ldScale = 1;
            }
            case MODE_ROWWISE -> {
                scaleCount = freePadded;
                ldScale = freePadded;
            }
            case MODE_TILE -> {
                scaleCount = ceilDiv(depth, tile(g)) * freePadded;
                ldScale = freePadded;
            }
            default -> {
                ldScale = blockScaleStride(depth);
                scaleCount = ceilDiv(free, 128) * ldScale;
            }
        }
        DeviceBuffer codes = cuda.allocator.allocate((long) freePadded * ld);
        DeviceBuffer scales = cuda.allocator.allocate(4L * scaleCount);
        DeviceBuffer inverse = cuda.allocator.allocate(4L * scaleCount);
        if (freePadded != free || ld != depth) {
            cuda.driver.memset8(codes.pointer(), (byte) 0, (long) freePadded * ld, cuda.stream);
            cuda.driver.memset32(scales.pointer(), 0, scaleCount, cuda.stream);
            cuda.driver.memset32(inverse.pointer(), 0, scaleCount, cuda.stream);
        }
        return new DeviceFloat8(codes, scales, inverse, spec, rows, cols, ld, ldScale);
    }

    private DeviceFloat8[] cast(Source src, String what, int rows, int cols, QuantSpec alongColumns,
            QuantSpec alongRows) {
        if (alongColumns != null && alongRows != null
                && alongColumns.granularity() != alongRows.granularity()) {
            throw new IllegalArgumentException("a both-axes quantization needs one granularity, got "
                    + alongColumns.granularity() + " and " + alongRows.granularity());
        }
        ScalingGranularity g = (alongColumns != null ? alongColumns : alongRows).granularity();
        int mode = mode(g);
        DeviceFloat8 rowCopy = alongColumns == null ? null : allocateCopy(alongColumns, rows, cols);
        DeviceFloat8 colCopy = alongRows == null ? null : allocateCopy(alongRows, rows, cols);
        DeviceBuffer rowAmax = null;
        DeviceBuffer colAmax = null;
        DeviceBuffer totalAmax = null;
        int gridX = ceilDiv(cols, 128);
        int gridY = ceilDiv(rows, 128);
        int castId = cuda.faults.register(what + " under " + (alongColumns != null ? alongColumns : "")
                + (alongColumns != null && alongRows != null ? " and " : "") + (alongRows != null ? alongRows : ""));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment source = src.pack(arena);
            MemorySegment rowCopyArg = packCopy(arena, rowCopy, castId);
            MemorySegment colCopyArg = packCopy(arena, colCopy, castId);
            // Tensorwise over contiguous, 16-byte aligned F32 or BF16 data: flat kernels (16-byte loads, several in
            // flight), for the amax always and for the cast when the one copy wanted is along 1 and unpadded.
            boolean flat = mode == MODE_TENSOR && src.type() != IN_FP8 && src.data() % 16 == 0;
            if (flat) {
                totalAmax = zeroedWords(1);
                long n = (long) rows * cols;
                int blocks = 8 * cuda.multiprocessors;
                cuda.driver.launch(cuda.kernels.amaxFlat()[src.type()], "amax_flat", blocks, 1, 1, 256, 1, 1, 0,
                        cuda.stream, KernelArgs.pack(arena, src.data(), n, totalAmax.pointer()));
                if (colCopy == null && rowCopy.ld() == cols && rowCopy.storedRows() == rows) {
                    cuda.driver.launch(cuda.kernels.castFlat()[src.type()], "cast_flat", blocks, 1, 1, 256, 1, 1, 0,
                            cuda.stream, KernelArgs.pack(arena, src.data(), n, rowCopyArg, totalAmax.pointer()));
                    return new DeviceFloat8[] {rowCopy, null};
                }
            }
            // BF16 sources whose rows split into 16-byte chunks take the pipelined kernel: a persistent grid of two
            // blocks per multiprocessor, each prefetching its next tile while it works on the current one.
            boolean pipelined = src.type() == IN_BF16 && cols % 8 == 0;
            int tiles = gridX * gridY;
            if (!flat && (mode == MODE_TENSOR || mode == MODE_ROWWISE)) {
                if (mode == MODE_TENSOR) {
                    totalAmax = zeroedWords(1);
                } else {
                    rowAmax = rowCopy != null ? zeroedWords(rows) : null;
                    colAmax = colCopy != null ? zeroedWords(cols) : null;
                }
                cuda.driver.launch(cuda.kernels.amaxTiles()[src.type()], "amax_tiles",
                        pipelined ? Math.min(tiles, 2 * cuda.multiprocessors) : gridX, pipelined ? 1 : gridY, 1,
                        TILE_THREADS, 1, 1, pipelined ? CudaContext.PIPELINE_STAGE_BYTES : 0, cuda.stream,
                        KernelArgs.pack(arena, source, rows, cols, pointerOf(rowAmax), pointerOf(colAmax),
                                pointerOf(totalAmax), pipelined ? 1 : 0));
            }
            cuda.driver.launch(cuda.kernels.castTiles()[src.type()], "cast_tiles",
                    pipelined ? Math.min(tiles, 2 * cuda.multiprocessors) : gridX, pipelined ? 1 : gridY, 1,
                    TILE_THREADS, 1, 1, pipelined ? CudaContext.PIPELINE_STAGE_BYTES : 0, cuda.stream,
                    KernelArgs.pack(arena, source, rows, cols, mode, tile(g), rowCopyArg, colCopyArg, pointerOf(rowAmax), pointerOf(colAmax), pointerOf(totalAmax),
                            pipelined ? 1 : 0));
        } finally {
            for (DeviceBuffer b : new DeviceBuffer[] {rowAmax, colAmax, totalAmax}) {
                if (b != null) {
                    b.close();
                }
            }
        }
        return new DeviceFloat8[] {rowCopy, colCopy};
    }

    private DeviceBuffer zeroedWords(int count) {
        DeviceBuffer b = cuda.allocator.allocate(4L * count);
        cuda.driver.memset32(b.pointer(), 0, count, cuda.stream);
        return b;
    }

    private static long pointerOf(DeviceBuffer b) {
        return b == null ? 0L : b.pointer();
    }

    /** decode(code) / scale for every element, as a row-major rows x cols F32 or BF16 device tensor. */
    public DeviceTensor dequantize(DeviceFloat8 q, DType out) {
        DeviceTensor d = allocate(q.rows(), q.cols(), out);
        try (Arena arena = Arena.ofConfined()) {
            long n = (long) q.rows() * q.cols();
            cuda.driver.launch(cuda.kernels.dequantize(), "dequantize", (int) Math.min(4096, (n + 255) / 256), 1, 1,
                    256, 1, 1, 0, cuda.stream, KernelArgs.pack(arena, fp8Source(q).pack(arena), q.rows(), q.cols(),
                            d.pointer(), out == DType.F32 ? 0 : 1));
        }
        return d;
    }

    /** x in another dtype (F32 to BF16 rounds to nearest even). */
    public DeviceTensor convert(DeviceTensor x, DType to) {
        DeviceTensor d = allocate(x.rows(), x.cols(), to);
        if (to == x.dtype()) {
            cuda.driver.copyOnDevice(d.pointer(), x.pointer(), x.bytes(), cuda.stream);
            return d;
        }
        try (Arena arena = Arena.ofConfined()) {
            long n = (long) x.rows() * x.cols();
            cuda.driver.launch(cuda.kernels.convert(), "convert", (int) Math.min(4096, (n + 255) / 256), 1, 1, 256, 1,
                    1, 0, cuda.stream, KernelArgs.pack(arena, x.pointer(), d.pointer(), n, to == DType.BF16 ? 1 : 0));
        }
        return d;
    }

    // ---------------------------------------------------------------- device API: gemms

    private static int ltType(Fp8Format f) {
        return f == Fp8Format.E4M3FN ? CublasLt.CUDA_R_8F_E4M3 : CublasLt.CUDA_R_8F_E5M2;
    }

    private static int ltType(DType d) {
        return d == DType.F32 ? CublasLt.CUDA_R_32F : CublasLt.CUDA_R_16BF;
    }

    /** The cuBLASLt scale mode a device tensor's scales are laid out for. */
    private static int ltMode(ScalingGranularity g) {
        return switch (g) {
            case TENSORWISE -> CublasLt.SCALE_SCALAR_32F;
            case ROWWISE -> CublasLt.SCALE_OUTER_VEC_32F;
            case TILE_1X128 -> CublasLt.SCALE_VEC128_32F;
            case BLOCK_128X128 -> CublasLt.SCALE_BLK128X128_32F;
            case MX_1X32 -> throw new UnsupportedOperationException(
                    "cuBLASLt on this GPU has no 1x32 FP32-scale gemm; dequantize MX tensors or use the host API");
        };
    }

    private static boolean pairSupported(int aMode, int bMode) {
        boolean blockish = (aMode == CublasLt.SCALE_VEC128_32F || aMode == CublasLt.SCALE_BLK128X128_32F)
                && (bMode == CublasLt.SCALE_VEC128_32F || bMode == CublasLt.SCALE_BLK128X128_32F);
        return aMode == bMode && aMode != CublasLt.SCALE_BLK128X128_32F || blockish && aMode + bMode
                != 2 * CublasLt.SCALE_BLK128X128_32F;
    }

    /**
     * The scaled FP8 gemm C = A·Bᵀ under the axis convention, on the GPU: [A's free length] x [B's free length].
     * Free and summed lengths must be multiples of 16 here (the host API pads). fastAccum lets cuBLASLt
     * accumulate in the tensor cores' reduced precision (tensorwise and rowwise only).
     */
    public DeviceTensor gemm(DeviceFloat8 a, DeviceFloat8 b, DType out, boolean fastAccum) {
        DeviceTensor d = allocate(a.free(), b.free(), out);
        runGemm(a, b, d, fastAccum, false);
        return d;
    }

    /** d += A·Bᵀ under the axis convention, on the GPU, accumulated by cuBLASLt itself (beta = 1); d is F32. */
    public void gemmAccumulate(DeviceTensor d, DeviceFloat8 a, DeviceFloat8 b) {
        if (d.dtype() != DType.F32 || d.rows() != a.free() || d.cols() != b.free()) {
            throw new IllegalArgumentException("cannot accumulate the gemm of " + a + " and " + b + " (" + a.free() + "x"
                    + b.free() + ") into " + d + ": needs an F32 target of that shape");
        }
        runGemm(a, b, d, false, true);
    }

    private void runGemm(DeviceFloat8 a, DeviceFloat8 b, DeviceTensor d, boolean fastAccum, boolean accumulate) {
        if (a.depth() != b.depth()) {
            throw new IllegalArgumentException("gemm: " + a + " sums over " + a.depth() + " elements, " + b + " over "
                    + b.depth());
        }
        if (a.free() % 16 != 0 || b.free() % 16 != 0 || a.depth() % 16 != 0) {
            throw new IllegalArgumentException("device gemm of " + a + " and " + b
                    + " needs free and summed lengths that are multiples of 16 (cuBLASLt FP8); the host API pads");
        }
        int aMode = ltMode(b.spec().granularity());
        int bMode = ltMode(a.spec().granularity());
        if (!pairSupported(aMode, bMode)) {
            throw new IllegalArgumentException("cuBLASLt has no FP8 gemm for " + a.spec().granularity() + " x "
                    + b.spec().granularity() + " scales on the device; the host API expands scales to 1x128 form");
        }
        boolean fast = fastAccum && (aMode == CublasLt.SCALE_SCALAR_32F || aMode == CublasLt.SCALE_OUTER_VEC_32F);
        CublasLt.Shape shape = new CublasLt.Shape(b.free(), a.free(), a.depth(), ltType(b.spec().format()),
                ltType(a.spec().format()), ltType(d.dtype()), CublasLt.OP_T, CublasLt.OP_N, b.ld(), a.ld(), aMode, bMode,
                fast, accumulate);
        cuda.lt.matmul(shape, b.codes().pointer(), a.codes().pointer(), d.pointer(), b.inverseScales().pointer(),
                a.inverseScales().pointer(), cuda.stream);
    }

    /** The high-precision gemm under the axis convention on the GPU; a and b share a dtype (F32 or BF16). */
    public DeviceTensor matmul(DeviceTensor a, int aAxis, DeviceTensor b, int bAxis, DType out) {
        if (a.dtype() != b.dtype()) {
            throw new IllegalArgumentException("matmul of " + a + " and " + b + ": dtypes differ");
        }
        int depth = aAxis == 1 ? a.cols() : a.rows();
        int depthB = bAxis == 1 ? b.cols() : b.rows();
        if (depth != depthB) {
            throw new IllegalArgumentException("matmul: " + a + " along axis " + aAxis + " sums over " + depth + ", "
                    + b + " along axis " + bAxis + " over " + depthB);
        }
        if (a.dtype() == DType.F32 && out == DType.BF16) {
            // cuBLASLt has no F32 x F32 -> BF16 matmul: F32 result, then rounded
            try (DeviceTensor f32 = matmul(a, aAxis, b, bAxis, DType.F32)) {
                return convert(f32, DType.BF16);
            }
        }
        int m = aAxis == 1 ? a.rows() : a.cols();
        int n = bAxis == 1 ? b.rows() : b.cols();
        DeviceTensor d = allocate(m, n, out);
        CublasLt.Shape shape = new CublasLt.Shape(n, m, depth, ltType(b.dtype()), ltType(a.dtype()), ltType(out),
                bAxis == 1 ? CublasLt.OP_T : CublasLt.OP_N, aAxis == 1 ? CublasLt.OP_N : CublasLt.OP_T, b.cols(),
                a.cols(), -1, -1, false, false);
        cuda.lt.matmul(shape, b.pointer(), a.pointer(), d.pointer(), 0, 0, cuda.stream);
        return d;
    }

    // ---------------------------------------------------------------- host API (Backend)

    private static void checkFinite(Tensor x, QuantSpec spec) {
        for (int r = 0; r < x.rows(); r++) {
            for (int c = 0; c < x.cols(); c++) {
                float v = x.get(r, c);
                if (!Float.isFinite(v)) {
                    throw new NonFiniteException(x + " along axis " + spec.axis(), r, c, v);
                }
            }
        }
    }

    // Tensors carry their device and these methods follow them: if an operand lives on this GPU the work stays
    // there (host operands are uploaded) and the result is a device tensor; with host operands only, everything
    // is uploaded, computed and downloaded. Device results hold their memory until the garbage collector finds
    // them unreachable (Resident); reachabilityFence keeps an operand's memory alive until its work is queued.

    @Override
    public Float8Tensor quantize(Tensor x, QuantSpec spec) {
        if (x.isOnDevice()) {
            try {
                return resident(quantize(deviceView(x), spec), x.dtype(), x.shape());
            } finally {
                Reference.reachabilityFence(x);
            }
        }
        checkFinite(x, spec);
        try (DeviceTensor d = upload(x); DeviceFloat8 q = quantize(d, spec)) {
            return downloadFloat8(q, x.dtype(), x.shape());
        }
    }

    @Override
    public Float8Tensor[] quantizeBothAxes(Tensor x, QuantSpec alongColumns, QuantSpec alongRows) {
        if (alongColumns.granularity() != alongRows.granularity()) {
            return Backend.super.quantizeBothAxes(x, alongColumns, alongRows);
        }
        if (x.isOnDevice()) {
            try {
                DeviceFloat8[] both = quantizeBothAxes(deviceView(x), alongColumns, alongRows);
                return new Float8Tensor[] {resident(both[0], x.dtype(), x.shape()), resident(both[1], x.dtype(), x.shape())};
            } finally {
                Reference.reachabilityFence(x);
            }
        }
        checkFinite(x, alongColumns);
        try (DeviceTensor d = upload(x)) {
            DeviceFloat8[] both = quantizeBothAxes(d, alongColumns, alongRows);
            try (DeviceFloat8 q1 = both[0]; DeviceFloat8 q0 = both[1]) {
                return new Float8Tensor[] {downloadFloat8(q1, x.dtype(), x.shape()), downloadFloat8(q0, x.dtype(), x.shape())};
            }
        }
    }

    @Override
    public Tensor dequantize(Float8Tensor q) {
        if (q.isOnDevice()) {
            try {
                return resident(dequantize(ours(q).fp8, DType.F32), q.shape());
            } finally {
                Reference.reachabilityFence(q);
            }
        }
        try (DeviceFloat8 d = uploadFloat8(q); DeviceTensor out = dequantize(d, DType.F32)) {
            return Tensor.of(download(out).data(), q.shape());
        }
    }

    @Override
    public Float8Tensor requantize(Float8Tensor q, QuantSpec spec) {
        if (q.isOnDevice()) {
            try {
                return resident(requantize(ours(q).fp8, spec), q.originalDType(), q.shape());
            } finally {
                Reference.reachabilityFence(q);
            }
        }
        try (DeviceFloat8 d = uploadFloat8(q); DeviceFloat8 r = requantize(d, spec)) {
            return downloadFloat8(r, q.originalDType(), q.shape());
        }
    }

    @Override
    public Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis) {
        return matmul(a, aAxis, b, bAxis, DType.F32);
    }

    @Override
    public Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis, DType out) {
        if (a.isOnDevice() || b.isOnDevice()) {
            Tensor da = toDevice(a);
            Tensor db = toDevice(b);
            try {
                DeviceTensor va = deviceView(da);
                DeviceTensor vb = deviceView(db);
                if (va.dtype() != vb.dtype()) {
                    va = va.dtype() == DType.F32 ? va : convert(va, DType.F32);
                    vb = vb.dtype() == DType.F32 ? vb : convert(vb, DType.F32);
                }
                DeviceTensor d = matmul(va, aAxis, vb, bAxis, out);
                closeIfCopy(va, da);
                closeIfCopy(vb, db);
                return resident(d, d.rows(), d.cols());
            } finally {
                Reference.reachabilityFence(da);
                Reference.reachabilityFence(db);
            }
        }
        if (a.dtype() != b.dtype()) {
            a = a.to(DType.F32);
            b = b.to(DType.F32);
        }
        try (DeviceTensor da = upload(a); DeviceTensor db = upload(b);
                DeviceTensor d = matmul(da, aAxis, db, bAxis, out)) {
            return download(d);
        }
    }

    @Override
    public void gemmAccumulate(Tensor into, Float8Tensor a, Float8Tensor b) {
        if (!into.isOnDevice() || needsDequantizedGemm(a, b)) {
            Backend.super.gemmAccumulate(into, a, b);
            return;
        }
        try {
            onGemmOperands(a, b, (qa, qb) -> {
                gemmAccumulate(deviceView(into), qa, qb);
                return null;
            });
        } finally {
            Reference.reachabilityFence(into);
        }
    }

    @Override
    public Tensor toDevice(Tensor t) {
        if (t.isOnDevice()) {
            deviceView(t);  // checks that it is this GPU's
            return t;
        }
        return resident(upload(t), t.shape());
    }

    @Override
    public Tensor copy(Tensor t) {
        if (!t.isOnDevice()) {
            return t.copy();
        }
        try {
            return resident(convert(deviceView(t), t.dtype()), t.shape());
        } finally {
            Reference.reachabilityFence(t);
        }
    }

    @Override
    public Tensor toHost(Tensor t) {
        if (!t.isOnDevice()) {
            return t;
        }
        try {
            return download(deviceView(t)).reshape(t.shape());
        } finally {
            Reference.reachabilityFence(t);
        }
    }

    @Override
    public Float8Tensor toHost(Float8Tensor q) {
        if (!q.isOnDevice()) {
            return q;
        }
        try {
            DeviceFloat8 stored = ours(q).fp8;
            Float8Tensor host = downloadFloat8(stored, q.originalDType(), q.shape());
            return host.spec().equals(q.spec()) ? host : host.alongOtherAxis();
        } finally {
            Reference.reachabilityFence(q);
        }
    }

    @Override
    public void accumulate(Tensor into, Tensor g) {
        if (!into.isOnDevice()) {
            Backend.super.accumulate(into, toHost(g));
            return;
        }
        if (into.dtype() != DType.F32 || g.size() != into.size()) {
            throw new IllegalArgumentException("cannot add " + g + " into " + into
                    + ": needs an F32 target and equal element counts");
        }
        Tensor dg = toDevice(g);
        try (Arena arena = Arena.ofConfined()) {
            long n = into.size();
            cuda.driver.launch(cuda.kernels.addInto(), "add_into", (int) Math.min(4096, (n + 255) / 256), 1, 1, 256, 1, 1,
                    0, cuda.stream, KernelArgs.pack(arena, deviceView(into).pointer(), deviceView(dg).pointer(), n,
                            dg.dtype() == DType.F32 ? 0 : 1));
        } finally {
            Reference.reachabilityFence(into);
            Reference.reachabilityFence(dg);
        }
    }

    @Override
    public void zero(Tensor t) {
        if (!t.isOnDevice()) {
            Backend.super.zero(t);
            return;
        }
        try {
            DeviceTensor d = deviceView(t);
            if (t.dtype() == DType.F32) {
                cuda.driver.memset32(d.pointer(), 0, t.size(), cuda.stream);
            } else {
                cuda.driver.memset8(d.pointer(), (byte) 0, d.bytes(), cuda.stream);
            }
        } finally {
            Reference.reachabilityFence(t);
        }
    }

    /** Open scopes, innermost last (see {@link DeviceScope}). */
    private final java.util.ArrayDeque<DeviceScope> scopes = new java.util.ArrayDeque<>();

    /** Opens a scope that frees every device tensor made until it closes; scopes nest. */
    public DeviceScope openScope() {
        DeviceScope scope = new DeviceScope(this);
        scopes.addLast(scope);
        return scope;
    }

    void closeScope(DeviceScope scope) {
        if (scopes.peekLast() != scope) {
            throw new IllegalStateException("device scopes must close innermost first");
        }
        scopes.removeLast();
    }

    private Resident track(Resident r) {
        DeviceScope scope = scopes.peekLast();
        if (scope != null) {
            scope.add(r);
        }
        return r;
    }

    private String deviceLabel() {
        return "cuda (" + cuda.deviceName + ")";
    }

    private Tensor resident(DeviceTensor d, int... shape) {
        return Tensor.onDevice(track(Resident.of(deviceLabel(), d)), d.dtype(), shape);
    }

    private Float8Tensor resident(DeviceFloat8 q, DType originalDType, int[] shape) {
        return Float8Tensor.onDevice(track(Resident.of(deviceLabel(), q)), q.spec(), originalDType, shape);
    }

    private static Resident ours(Object t, DeviceData data) {
        if (!(data instanceof Resident r)) {
            throw new IllegalArgumentException(t + " is not memory of the CUDA backend");
        }
        return r;
    }

    private static Resident ours(Float8Tensor q) {
        return ours(q, q.deviceData());
    }

    /** The stream every operation of this backend is queued on: collectives ({@link NcclCommunicator}) join it. */
    MemorySegment stream() {
        return cuda.stream;
    }

    /** The device memory behind a device tensor of this backend, seen with t's matrix shape, for collectives. */
    static DeviceTensor deviceTensorOf(Tensor t) {
        return deviceView(t);
    }

    /** d as a tensor of this backend of the given shape, released like every result of it. */
    Tensor wrap(DeviceTensor d, int... shape) {
        return resident(d, shape);
    }

    /** The device tensor behind t, seen with t's own matrix shape (a reshape shares the memory). */
    private static DeviceTensor deviceView(Tensor t) {
        DeviceTensor d = ours(t, t.deviceData()).tensor;
        return new DeviceTensor(d.buffer(), t.rows(), t.cols(), t.dtype());
    }

    /**
     * q on this GPU in the K-contiguous layout of q's own axis; temporary when it had to be made: uploaded from
     * the host, or the exact transpose of a device copy seen through {@link Float8Tensor#alongOtherAxis()}.
     */
    private record GemmOperand(DeviceFloat8 q, boolean temporary) {
    }

    private GemmOperand gemmOperand(Float8Tensor q) {
        if (!q.isOnDevice()) {
            return new GemmOperand(uploadFloat8(q), true);
        }
        DeviceFloat8 stored = ours(q).fp8;
        return stored.spec().equals(q.spec()) ? new GemmOperand(stored, false) : new GemmOperand(transpose(stored), true);
    }

    /** Runs work on a and b as device gemm operands, then closes those made for it. */
    private <T> T onGemmOperands(Float8Tensor a, Float8Tensor b, BiFunction<DeviceFloat8, DeviceFloat8, T> work) {
        GemmOperand da = null;
        GemmOperand db = null;
        try {
            da = gemmOperand(a);
            db = gemmOperand(b);
            return work.apply(da.q(), db.q());
        } finally {
            for (GemmOperand o : new GemmOperand[] {da, db}) {
                if (o != null && o.temporary()) {
                    o.q().close();
                }
            }
            Reference.reachabilityFence(a);
            Reference.reachabilityFence(b);
        }
    }

    /** MX scales and E5M2 x E5M2 have no cuBLASLt FP8 kernel here: such gemms multiply the dequantized values. */
    private static boolean needsDequantizedGemm(Float8Tensor a, Float8Tensor b) {
        boolean mx = a.granularity() == ScalingGranularity.MX_1X32 || b.granularity() == ScalingGranularity.MX_1X32;
        return mx || a.format() == Fp8Format.E5M2 && b.format() == Fp8Format.E5M2;
    }

    private static void closeIfCopy(DeviceTensor used, Tensor of) {
        if (used.buffer() != deviceView(of).buffer()) {
            used.close();
        }
    }

    @Override
    public Tensor gemm(Float8Tensor a, Float8Tensor b) {
        return gemm(a, b, DType.F32);
    }

    /** On device operands cuBLASLt writes out itself (its epilogue rounds the F32 result to BF16). */
    @Override
    public Tensor gemm(Float8Tensor a, Float8Tensor b, DType out) {
        int depth = a.axis() == 1 ? a.cols() : a.rows();
        int depthB = b.axis() == 1 ? b.cols() : b.rows();
        if (depth != depthB) {
            throw new IllegalArgumentException("gemm: A " + Arrays.toString(a.shape()) + " along axis " + a.axis()
                    + " sums over " + depth + " elements, B " + Arrays.toString(b.shape()) + " along axis " + b.axis()
                    + " over " + depthB);
        }
        if (needsDequantizedGemm(a, b)) {
            return matmul(dequantize(a), a.axis(), dequantize(b), b.axis(), out);
        }
        if (a.isOnDevice() || b.isOnDevice()) {
            return onGemmOperands(a, b, (qa, qb) -> {
                DeviceTensor d = gemm(qa, qb, out, false);
                return resident(d, d.rows(), d.cols());
            });
        }
        return out == DType.F32 ? hostGemm(a, b, depth) : hostGemm(a, b, depth).to(out);
    }

    /** The host API's FP8 gemm: operands padded and uploaded, the F32 result downloaded. */
    private Tensor hostGemm(Float8Tensor a, Float8Tensor b, int depth) {
        int[] modes = hostGemmModes(a.granularity(), b.granularity());
        int ltA = modes[1];
        int ltB = modes[0];
        boolean blockModes = ltA == CublasLt.SCALE_VEC128_32F || ltA == CublasLt.SCALE_BLK128X128_32F;
        int ld = roundUp(depth, blockModes ? 128 : 16);
        int m = a.axis() == 1 ? a.rows() : a.cols();
        int n = b.axis() == 1 ? b.rows() : b.cols();
        int mPadded = roundUp(m, 16);
        int nPadded = roundUp(n, 16);
        try (DeviceBuffer codesA = uploadBytes(kContiguousCodes(a, mPadded, ld));
                DeviceBuffer codesB = uploadBytes(kContiguousCodes(b, nPadded, ld));
                DeviceBuffer invA = uploadFloats(inverseScales(a, ltB, mPadded, ld));
                DeviceBuffer invB = uploadFloats(inverseScales(b, ltA, nPadded, ld));
                DeviceBuffer d = cuda.allocator.allocate(4L * mPadded * nPadded)) {
            CublasLt.Shape shape = new CublasLt.Shape(nPadded, mPadded, ld, ltType(b.format()), ltType(a.format()),
                    CublasLt.CUDA_R_32F, CublasLt.OP_T, CublasLt.OP_N, ld, ld, ltA, ltB, false, false);
            cuda.lt.matmul(shape, codesB.pointer(), codesA.pointer(), d.pointer(), invB.pointer(), invA.pointer(),
                    cuda.stream);
            float[] padded = downloadFloats(d, mPadded * nPadded);
            float[] out = new float[m * n];
            for (int i = 0; i < m; i++) {
                System.arraycopy(padded, i * nPadded, out, i * n, n);
            }
            return Tensor.of(out, m, n);
        }
    }

    /**
     * cuBLASLt scale modes {for A, for B} (our operands) that hold these granularities exactly: scalar for two
     * tensorwise, outer vectors for tensorwise/rowwise, else 128-element vectors and 128x128 blocks (cuBLASLt
     * has no block x block kernel, so then A's blocks are written as 128-element vectors).
     */
    private static int[] hostGemmModes(ScalingGranularity a, ScalingGranularity b) {
        boolean aSimple = a == ScalingGranularity.TENSORWISE || a == ScalingGranularity.ROWWISE;
        boolean bSimple = b == ScalingGranularity.TENSORWISE || b == ScalingGranularity.ROWWISE;
        if (a == ScalingGranularity.TENSORWISE && b == ScalingGranularity.TENSORWISE) {
            return new int[] {CublasLt.SCALE_SCALAR_32F, CublasLt.SCALE_SCALAR_32F};
        }
        if (aSimple && bSimple) {
            return new int[] {CublasLt.SCALE_OUTER_VEC_32F, CublasLt.SCALE_OUTER_VEC_32F};
        }
        int modeB = b == ScalingGranularity.BLOCK_128X128 ? CublasLt.SCALE_BLK128X128_32F : CublasLt.SCALE_VEC128_32F;
        int modeA = a == ScalingGranularity.BLOCK_128X128 && modeB != CublasLt.SCALE_BLK128X128_32F
                ? CublasLt.SCALE_BLK128X128_32F : CublasLt.SCALE_VEC128_32F;
        return new int[] {modeA, modeB};
    }

    /** Codes as [freePadded][ld], summed index fastest, zero padded. */
    private static byte[] kContiguousCodes(Float8Tensor t, int freePadded, int ld) {
        byte[] out = new byte[freePadded * ld];
        byte[] codes = t.codes();
        int cols = t.cols();
        for (int r = 0; r < t.rows(); r++) {
            for (int c = 0; c < cols; c++) {
                int at = t.axis() == 1 ? r * ld + c : c * ld + r;
                out[at] = codes[r * cols + c];
            }
        }
        return out;
    }

    /** 1/scale in cuBLASLt's layout for ltMode; entries for padding are 0. */
    private static float[] inverseScales(Float8Tensor t, int ltMode, int freePadded, int ld) {
        int free = t.axis() == 1 ? t.rows() : t.cols();
        int depth = t.axis() == 1 ? t.cols() : t.rows();
        int kBlocks = ceilDiv(ld, 128);
        int blockStride = blockScaleStride(ld);
        float[] out;
        switch (ltMode) {
            case CublasLt.SCALE_SCALAR_32F -> out = new float[] {1f / t.scale(0, 0)};
            case CublasLt.SCALE_OUTER_VEC_32F -> {
                out = new float[freePadded];
                for (int f = 0; f < free; f++) {
                    out[f] = 1f / scaleAt(t, f, 0);
                }
            }
            case CublasLt.SCALE_VEC128_32F -> {
                out = new float[kBlocks * freePadded];
                for (int kb = 0; kb * 128 < depth; kb++) {
                    for (int f = 0; f < free; f++) {
                        out[kb * freePadded + f] = 1f / scaleAt(t, f, kb * 128);
                    }
                }
            }
            default -> {
                out = new float[ceilDiv(freePadded, 128) * blockStride];
                for (int fb = 0; fb * 128 < free; fb++) {
                    for (int kb = 0; kb * 128 < depth; kb++) {
                        out[fb * blockStride + kb] = 1f / scaleAt(t, fb * 128, kb * 128);
                    }
                }
            }
        }
        return out;
    }

    /** The scale of t at free index f and summed index k. */
    private static float scaleAt(Float8Tensor t, int f, int k) {
        return t.axis() == 1 ? t.scale(f, k) : t.scale(k, f);
    }

    /** Index into a device copy's scale array of the block holding logical element (r, c). */
    private static int deviceScaleIndex(QuantSpec spec, int ldScale, int r, int c) {
        int f = spec.axis() == 1 ? r : c;
        int k = spec.axis() == 1 ? c : r;
        return switch (mode(spec.granularity())) {
            case MODE_TENSOR -> 0;
            case MODE_ROWWISE -> f;
            case MODE_TILE -> (k / tile(spec.granularity())) * ldScale + f;
            default -> (f / 128) * ldScale + k / 128;
        };
    }

    private static int scaleCount(DeviceFloat8 q) {
        return (int) (q.scales().bytes() / 4);
    }

    /** A device copy as a host Float8Tensor: codes back in the original row-major layout, scales as a grid. */
    Float8Tensor downloadFloat8(DeviceFloat8 q, DType originalDType, int[] shape) {
        synchronize();
        byte[] stored = downloadBytes(q.codes(), (long) q.storedRows() * q.ld());
        float[] deviceScales = downloadFloats(q.scales(), scaleCount(q));
        int rows = q.rows();
        int cols = q.cols();
        byte[] codes = new byte[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                codes[r * cols + c] = stored[q.spec().axis() == 1 ? r * q.ld() + c : c * q.ld() + r];
            }
        }
        QuantSpec spec = q.spec();
        int blockRows = spec.blockRows(rows);
        int blockCols = spec.blockCols(cols);
        int scaleRows = ceilDiv(rows, blockRows);
        int scaleCols = ceilDiv(cols, blockCols);
        float[] scales = new float[scaleRows * scaleCols];
        for (int br = 0; br < scaleRows; br++) {
            for (int bc = 0; bc < scaleCols; bc++) {
                scales[br * scaleCols + bc] =
                        deviceScales[deviceScaleIndex(spec, q.ldScale(), br * blockRows, bc * blockCols)];
            }
        }
        return new Float8Tensor(codes, scales, spec, originalDType, shape);
    }

    /** A host Float8Tensor in the device layout (the inverse of {@link #downloadFloat8}). */
    DeviceFloat8 uploadFloat8(Float8Tensor t) {
        DeviceFloat8 q = allocateCopy(t.spec(), t.rows(), t.cols());
        byte[] stored = kContiguousCodes(t, q.storedRows(), q.ld());
        float[] scales = new float[scaleCount(q)];
        float[] inverse = new float[scales.length];
        float[] hostScales = t.scalesForBackend();
        for (int br = 0; br < t.scaleRows(); br++) {
            for (int bc = 0; bc < t.scaleCols(); bc++) {
                int at = deviceScaleIndex(t.spec(), q.ldScale(), br * t.blockRows(), bc * t.blockCols());
                scales[at] = hostScales[br * t.scaleCols() + bc];
                inverse[at] = 1f / scales[at];
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            cuda.driver.copyToDevice(q.codes().pointer(), arena.allocateFrom(JAVA_BYTE, stored), stored.length);
            cuda.driver.copyToDevice(q.scales().pointer(), arena.allocateFrom(JAVA_FLOAT, scales), 4L * scales.length);
            cuda.driver.copyToDevice(q.inverseScales().pointer(), arena.allocateFrom(JAVA_FLOAT, inverse),
                    4L * inverse.length);
        }
        return q;
    }
}
