package dev.float8j.runtime.cuda;

import static dev.float8j.runtime.cuda.DeviceFloat8.blockScaleStride;
import static dev.float8j.runtime.cuda.DeviceFloat8.ceilDiv;
import static dev.float8j.runtime.cuda.DeviceFloat8.roundUp;
import static dev.float8j.runtime.cuda.DeviceMemory.pointerOf;
import static dev.float8j.runtime.cuda.OpLaunches.dt;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.float8j.runtime.DType;
import dev.float8j.plan.Fp8Format;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.util.List;
import java.util.function.Consumer;

/**
 * Quantization on the GPU (cast.cu): casts of F32, BF16 or FP8 device tensors into the K-contiguous FP8 copies the
 * gemm reads, their exact transposes, dequantization and dtype conversion, and the device layout of FP8 copies
 * as the host sees it (download and upload of {@link Float8Tensor}s).
 */
final class CudaCasts {
    private static final int MODE_TENSOR = 0;
    private static final int MODE_ROWWISE = 1;
    private static final int MODE_TILE = 2;
    private static final int MODE_BLOCK = 3;
    private static final int IN_F32 = 0;
    private static final int IN_BF16 = 1;
    private static final int IN_FP8 = 2;
    /** Threads per block of the tile kernels (THREADS in cast.cu). */
    private static final int TILE_THREADS = 512;
    /** Threads per block of cast_whole_tiles (WHOLE_THREADS in cast.cu). */
    private static final int WHOLE_THREADS = 256;
    /** 16-byte chunks of a row each thread of cast_rows holds (ROW_CHUNKS in cast.cu), at most 1024 threads. */
    private static final int ROW_CHUNKS = 4;

    /** struct Source of cast.cu: where a cast reads from. */
    static final StructLayout SOURCE = MemoryLayout.structLayout(
            JAVA_LONG.withName("data"), JAVA_INT.withName("type"), JAVA_INT.withName("ld"), JAVA_INT.withName("axis"),
            JAVA_INT.withName("fmt"), JAVA_INT.withName("mode"), MemoryLayout.paddingLayout(4),
            JAVA_LONG.withName("scale"), JAVA_INT.withName("ldScale"), JAVA_INT.withName("tile")).withName("Source");
    /** struct Copy of cast.cu: one FP8 copy a cast writes. */
    static final StructLayout COPY = MemoryLayout.structLayout(
            JAVA_LONG.withName("codes"), JAVA_INT.withName("ld"), MemoryLayout.paddingLayout(4),
            JAVA_LONG.withName("scale"), JAVA_LONG.withName("inv"), JAVA_INT.withName("ldScale"),
            JAVA_INT.withName("fmt"), JAVA_INT.withName("pow2"), JAVA_INT.withName("castId"),
            JAVA_LONG.withName("fault")).withName("Copy");

    private final CudaContext cuda;
    private final DeviceMemory memory;
    private final ProducerMaxima maxima;
    /** The kernels' name suffixes, indexed by source type. */
    private static final String[] TYPES = {"f32", "bf16", "fp8"};

    private final KernelModule module;
    /** Indexed by source type (F32, BF16, FP8). */
    private final MemorySegment[] amaxTiles = new MemorySegment[3];
    private final MemorySegment[] castTiles = new MemorySegment[3];
    /** Tensorwise over contiguous data, indexed by high-precision type (F32, BF16). */
    private final MemorySegment[] amaxFlat = new MemorySegment[2];
    private final MemorySegment[] castFlat = new MemorySegment[2];
    /** Rowwise along 1 over contiguous rows held in registers, indexed by high-precision type (F32, BF16). */
    private final MemorySegment[] castRows = new MemorySegment[2];
    /** Over matrices that 128 x 128 tiles cover exactly, indexed by source type (F32, BF16, FP8 along 1). */
    private final MemorySegment[] castWholeTiles = new MemorySegment[3];
    /** The line or whole maxima of an FP8 source along 1 that 128 x 128 tiles cover (REQUANTIZE's first pass). */
    private final MemorySegment amaxWholeTilesFp8;

    CudaCasts(CudaContext cuda, DeviceMemory memory, ProducerMaxima maxima) {
        this.cuda = cuda;
        this.memory = memory;
        this.maxima = maxima;
        this.module = cuda.module("cast.cu", List.of(SOURCE, COPY));
        for (int i = 0; i < TYPES.length; i++) {
            amaxTiles[i] = module.function("amax_tiles_" + TYPES[i]);
            castTiles[i] = module.function("cast_tiles_" + TYPES[i]);
            castWholeTiles[i] = module.function("cast_whole_tiles_" + TYPES[i]);
            if (i < 2) {
                amaxFlat[i] = module.function("amax_flat_" + TYPES[i]);
                castFlat[i] = module.function("cast_flat_" + TYPES[i]);
                castRows[i] = module.function("cast_rows_" + TYPES[i]);
            }
        }
        amaxWholeTilesFp8 = module.function("amax_whole_tiles_fp8");
        // The pipelined BF16 kernels keep two 32 KiB tile stages in dynamic shared memory.
        cuda.driver.setFunctionAttribute(castTiles[1], CudaDriver.FUNC_ATTR_MAX_DYNAMIC_SHARED_BYTES,
                CudaContext.PIPELINE_STAGE_BYTES);
        cuda.driver.setFunctionAttribute(amaxTiles[1], CudaDriver.FUNC_ATTR_MAX_DYNAMIC_SHARED_BYTES,
                CudaContext.PIPELINE_STAGE_BYTES);
    }

    private static int mode(ScalingGranularity g) {
        return switch (g) {
            case TENSORWISE -> MODE_TENSOR;
            case ROWWISE -> MODE_ROWWISE;
            case TILE_1X128, MX_1X32 -> MODE_TILE;
            case BLOCK_128X128 -> MODE_BLOCK;
        };
    }

    static int tile(ScalingGranularity g) {
        return g == ScalingGranularity.MX_1X32 ? 32 : 128;
    }

    private static int fmt(Fp8Format f) {
        return f == Fp8Format.E4M3FN ? 0 : 1;
    }

    /** Quantizes x along spec's axis into the K-contiguous layout the gemm reads. */
    DeviceFloat8 quantize(DeviceTensor x, QuantSpec spec) {
        return quantize(x, spec, null, 0L);
    }

    /**
     * As {@link #quantize(DeviceTensor, QuantSpec)}, where knownAmax (or null) is a device word holding x's absolute
     * maximum as its producer reported it, and knownLines (or 0) the address of its row maxima followed by its column
     * maxima (ProducerMaxima): a tensorwise or rowwise cast then reads them instead of passing over x first.
     */
    DeviceFloat8 quantize(DeviceTensor x, QuantSpec spec, DeviceBuffer knownAmax, long knownLines) {
        DeviceFloat8[] out = cast(hpSource(x), x.toString(), x.rows(), x.cols(), spec.axis() == 1 ? spec : null,
                spec.axis() == 0 ? spec : null, null, knownAmax, knownLines);
        return out[spec.axis() == 1 ? 0 : 1];
    }

    /**
     * Quantizes x along both axes reading it once (twice for tensorwise and rowwise, whose scales need the
     * whole row or column first). Element 0 is along axis 1, element 1 along axis 0; the granularities must match.
     */
    DeviceFloat8[] quantizeBothAxes(DeviceTensor x, QuantSpec alongColumns, QuantSpec alongRows) {
        return quantizeBothAxes(x, alongColumns, alongRows, null, 0L);
    }

    /**
     * As {@link #quantizeBothAxes(DeviceTensor, QuantSpec, QuantSpec)}, with x's known amax or null and known line
     * maxima or 0 (see quantize).
     */
    DeviceFloat8[] quantizeBothAxes(DeviceTensor x, QuantSpec alongColumns, QuantSpec alongRows,
            DeviceBuffer knownAmax, long knownLines) {
        return cast(hpSource(x), x.toString(), x.rows(), x.cols(), alongColumns.withAxis(1), alongRows.withAxis(0),
                null, knownAmax, knownLines);
    }

    /** Quantizes q again under spec, from its dequantized values (REQUANTIZE's backward copy). */
    DeviceFloat8 requantize(DeviceFloat8 q, QuantSpec spec) {
        DeviceFloat8[] out = cast(fp8Source(q), q.toString(), q.rows(), q.cols(), spec.axis() == 1 ? spec : null,
                spec.axis() == 0 ? spec : null);
        return out[spec.axis() == 1 ? 0 : 1];
    }

    /**
     * The other axis's copy of a transposeable (tensorwise or 128x128-block) tensor: the codes transposed, the
     * same scales. This is exact, where {@link #requantize} would round again.
     */
    DeviceFloat8 transpose(DeviceFloat8 q) {
        if (!q.spec().granularity().transposeable()) {
            throw new IllegalArgumentException(q + " is not transposeable: requantize it along the other axis");
        }
        DeviceFloat8 t = allocateCopy(q.spec().otherAxis(), q.rows(), q.cols());
        transposeCodes(q.codes().pointer(), q.storedRows(), q.ld(), q.ld(), t.codes().pointer(), t.ld());
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

    /** FP8 codes, four bytes at a time where strides and pointers allow it (the layouts this backend makes do). */
    private void transposeCodes(long in, int rows, int cols, int ldIn, long out, int ldOut) {
        if (ldIn % 4 != 0 || ldOut % 4 != 0 || in % 4 != 0 || out % 4 != 0) {
            transposeMatrix(in, rows, cols, ldIn, out, ldOut, 1);
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            cuda.driver.launch(module.function("transpose_codes"), "transpose_codes", ceilDiv(cols, 64),
                    ceilDiv(rows, 64), 1, 256, 1, 1, 0, cuda.stream,
                    module.args(arena, "transpose_codes", in, rows, cols, ldIn, out, ldOut));
        }
    }

    private void transposeMatrix(long in, int rows, int cols, int ldIn, long out, int ldOut, int elementBytes) {
        try (Arena arena = Arena.ofConfined()) {
            cuda.driver.launch(module.function("transpose"), "transpose", ceilDiv(cols, 64), ceilDiv(rows, 64), 1, 256, 1,
                    1, 0, cuda.stream, module.args(arena, "transpose", in, rows, cols, ldIn, out, ldOut, elementBytes));
        }
    }

    /** The fields of a Source struct (see {@link #SOURCE}). */
    private record Source(long data, int type, int ld, int axis, int fmt, int mode, long scale, int ldScale, int tile) {
        MemorySegment pack(Arena arena) {
            MemorySegment s = arena.allocate(SOURCE);
            s.set(JAVA_LONG, offset(SOURCE, "data"), data);
            s.set(JAVA_INT, offset(SOURCE, "type"), type);
            s.set(JAVA_INT, offset(SOURCE, "ld"), ld);
            s.set(JAVA_INT, offset(SOURCE, "axis"), axis);
            s.set(JAVA_INT, offset(SOURCE, "fmt"), fmt);
            s.set(JAVA_INT, offset(SOURCE, "mode"), mode);
            s.set(JAVA_LONG, offset(SOURCE, "scale"), scale);
            s.set(JAVA_INT, offset(SOURCE, "ldScale"), ldScale);
            s.set(JAVA_INT, offset(SOURCE, "tile"), tile);
            return s;
        }
    }

    static long offset(StructLayout struct, String field) {
        return struct.byteOffset(MemoryLayout.PathElement.groupElement(field));
    }

    private static Source hpSource(DeviceTensor x) {
        return new Source(x.pointer(), x.dtype() == DType.F32 ? IN_F32 : IN_BF16, x.cols(), 1, 0, 0, 0, 0, 128);
    }

    private static Source fp8Source(DeviceFloat8 q) {
        return new Source(q.codes().pointer(), IN_FP8, q.ld(), q.spec().axis(), fmt(q.spec().format()),
                mode(q.spec().granularity()), q.scales().pointer(), q.ldScale(), tile(q.spec().granularity()));
    }

    /** A Copy struct (see {@link #COPY}); an absent copy has null codes. */
    private MemorySegment packCopy(Arena arena, DeviceFloat8 q, int castId) {
        MemorySegment s = arena.allocate(COPY);
        s.set(JAVA_INT, offset(COPY, "castId"), castId);
        s.set(JAVA_LONG, offset(COPY, "fault"), cuda.faults.pointer());
        if (q != null) {
            s.set(JAVA_LONG, offset(COPY, "codes"), q.codes().pointer());
            s.set(JAVA_INT, offset(COPY, "ld"), q.ld());
            s.set(JAVA_LONG, offset(COPY, "scale"), q.scales().pointer());
            s.set(JAVA_LONG, offset(COPY, "inv"), q.inverseScales().pointer());
            s.set(JAVA_INT, offset(COPY, "ldScale"), q.ldScale());
            s.set(JAVA_INT, offset(COPY, "fmt"), fmt(q.spec().format()));
            s.set(JAVA_INT, offset(COPY, "pow2"), q.spec().powerOfTwoScales() ? 1 : 0);
        }
        return s;
    }
    /** Allocates an empty quantized copy of a rows x cols matrix; padding is zeroed. */
    DeviceFloat8 allocateCopy(QuantSpec spec, int rows, int cols) {
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
        return cast(src, what, rows, cols, alongColumns, alongRows, null, null, 0L);
    }

    /**
     * x quantized tensorwise along axis 1 with the scale of an amax that reduceTotalAmax makes from x's own: it gets
     * the device word holding x's amax (float bits, NaN above +Inf as an unsigned integer) after the amax kernel is
     * queued and before the cast is, and replaces it in place on this stream (NcclCommunicator: the maximum over
     * ranks, so every rank casts its shard with the full weight's scale).
     */
    DeviceFloat8 quantizeTensorwise(DeviceTensor x, QuantSpec spec, Consumer<DeviceBuffer> reduceTotalAmax) {
        if (spec.granularity() != ScalingGranularity.TENSORWISE || spec.axis() != 1) {
            throw new IllegalArgumentException("a reduced amax is for tensorwise scaling along axis 1, not " + spec);
        }
        return cast(hpSource(x), x.toString(), x.rows(), x.cols(), spec, null, reduceTotalAmax, null, 0L)[0];
    }

    /**
     * x quantized tensorwise along axis 1 (alongColumns) and/or axis 0 (alongRows; either may be null) in one pass,
     * with the scale of the amax in the device word scaleAmax (float bits), reporting x's own absolute maximum into
     * amaxOut, a zeroed device word: a delayed-scaling cast, whose scale comes from earlier casts' amaxes. With
     * scaleAmax null it scales from x's own amax, as current scaling does (from knownAmax, x's producer's report, where
     * that is not null; else from an amax pass). Element 0 is the along-1 copy, element 1 the along-0 copy.
     */
    DeviceFloat8[] quantizeDelayed(DeviceTensor x, QuantSpec alongColumns, QuantSpec alongRows, DeviceBuffer scaleAmax,
            DeviceBuffer knownAmax, long amaxOut) {
        for (QuantSpec spec : new QuantSpec[] {alongColumns, alongRows}) {
            if (spec != null && spec.granularity() != ScalingGranularity.TENSORWISE) {
                throw new IllegalArgumentException("delayed scaling is tensorwise (one amax a cast), not " + spec);
            }
        }
        return cast(hpSource(x), x.toString(), x.rows(), x.cols(), alongColumns == null ? null : alongColumns.withAxis(1),
                alongRows == null ? null : alongRows.withAxis(0), null, scaleAmax != null ? scaleAmax : knownAmax, 0L,
                amaxOut);
    }

    /** Writes into out the amax a delayed cast scales from (see amax_history_reduce in cast.cu). */
    void reduceAmaxHistory(long history, int count, int newest, long out) {
        try (Arena arena = Arena.ofConfined()) {
            cuda.driver.launch(module.function("amax_history_reduce"), "amax_history_reduce", 1, 1, 1, 32, 1, 1, 0,
                    cuda.stream, module.args(arena, "amax_history_reduce", history, count, newest, out));
        }
    }

    /**
     * knownAmax: x's absolute maximum as its producer reported it, or null. Only a tensorwise cast of high-precision
     * data without reduceTotalAmax reads it (that one replaces its amax word in place); it stays its owner's.
     * knownLines: the address of x's row maxima, followed by its column maxima, as its producer reported them, or 0;
     * a rowwise cast of high-precision data reads them.
     */
    private DeviceFloat8[] cast(Source src, String what, int rows, int cols, QuantSpec alongColumns,
            QuantSpec alongRows, Consumer<DeviceBuffer> reduceTotalAmax, DeviceBuffer knownAmax, long knownLines) {
        return cast(src, what, rows, cols, alongColumns, alongRows, reduceTotalAmax, knownAmax, knownLines, 0L);
    }

    /**
     * As above; amaxOut (or 0) is a zeroed device word into which a tensorwise cast also reports x's absolute maximum,
     * read in the cast's own pass (delayed scaling records it; see {@link #quantizeDelayed}).
     */
    private DeviceFloat8[] cast(Source src, String what, int rows, int cols, QuantSpec alongColumns,
            QuantSpec alongRows, Consumer<DeviceBuffer> reduceTotalAmax, DeviceBuffer knownAmax, long knownLines,
            long amaxOut) {
        if (alongColumns != null && alongRows != null
                && alongColumns.granularity() != alongRows.granularity()) {
            throw new IllegalArgumentException("a both-axes quantization needs one granularity, got "
                    + alongColumns.granularity() + " and " + alongRows.granularity());
        }
        ScalingGranularity g = (alongColumns != null ? alongColumns : alongRows).granularity();
        int mode = mode(g);
        DeviceFloat8 rowCopy = alongColumns == null ? null : allocateCopy(alongColumns, rows, cols);
        DeviceFloat8 colCopy = alongRows == null ? null : allocateCopy(alongRows, rows, cols);
        // rowwise: the row maxima, then the column maxima, in one buffer zeroed by one memset
        DeviceBuffer lineAmax = null;
        long rowAmax = 0L;
        long colAmax = 0L;
        DeviceBuffer totalAmax = null;
        boolean amaxKnown = knownAmax != null && mode == MODE_TENSOR && src.type() != IN_FP8 && reduceTotalAmax == null;
        boolean linesKnown = knownLines != 0 && mode == MODE_ROWWISE && src.type() != IN_FP8;
        if (mode == MODE_ROWWISE && colCopy != null && !linesKnown && knownAmax != null) {
            // x's producer reports maxima, and this cast's column maxima cost a pass over x: ask for them next time
            maxima.wantLines(true);
        }
        int gridX = ceilDiv(cols, 128);
        int gridY = ceilDiv(rows, 128);
        int castId = cuda.faults.register(what + " under " + (alongColumns != null ? alongColumns : "")
                + (alongColumns != null && alongRows != null ? " and " : "") + (alongRows != null ? alongRows : ""));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment source = src.pack(arena);
            MemorySegment rowCopyArg = packCopy(arena, rowCopy, castId);
            MemorySegment colCopyArg = packCopy(arena, colCopy, castId);
            // Tensorwise over contiguous, 16-byte aligned F32 or BF16 data: flat kernels (16-byte loads, several in
            // flight), for the amax (unless x's producer reported it) and for the cast when the one copy wanted is
            // along 1 and unpadded.
            boolean flat = mode == MODE_TENSOR && src.type() != IN_FP8 && src.data() % 16 == 0;
            long n = (long) rows * cols;
            int blocks = 8 * cuda.multiprocessors;
            if (flat && !amaxKnown) {
                totalAmax = memory.zeroedWords(1);
                cuda.driver.launch(amaxFlat[src.type()], "amax_flat", blocks, 1, 1, 256, 1, 1, 0,
                        cuda.stream, module.args(arena, "amax_flat_" + TYPES[src.type()], src.data(), n, totalAmax.pointer()));
                if (reduceTotalAmax != null) {
                    reduceTotalAmax.accept(totalAmax);
                }
            }
            long amaxWord = amaxKnown ? knownAmax.pointer() : pointerOf(totalAmax);
            if (flat && colCopy == null && rowCopy.ld() == cols && rowCopy.storedRows() == rows) {
                cuda.driver.launch(castFlat[src.type()], "cast_flat", blocks, 1, 1, 256, 1, 1, 0,
                        cuda.stream, module.args(arena, "cast_flat_" + TYPES[src.type()], src.data(), n, rowCopyArg, amaxWord, amaxOut));
                return new DeviceFloat8[] {rowCopy, null};
            }
            // Rowwise along 1 alone, over contiguous F32 or BF16 rows of whole 16-byte chunks that the block holds in
            // registers: one pass, the row's maximum and then its codes (else an amax pass and a cast pass).
            int perChunk = src.type() == IN_F32 ? 4 : 8;
            int rowChunks = cols / perChunk;
            if (mode == MODE_ROWWISE && colCopy == null && src.type() != IN_FP8 && src.data() % 16 == 0
                    && cols % perChunk == 0 && rowChunks <= ROW_CHUNKS * 1024) {
                int threads = roundUp(ceilDiv(rowChunks, ROW_CHUNKS), 32);
                cuda.driver.launch(castRows[src.type()], "cast_rows", rows, 1, 1, threads, 1, 1, 0, cuda.stream,
                        module.args(arena, "cast_rows_" + TYPES[src.type()], src.data(), cols, rowCopyArg));
                return new DeviceFloat8[] {rowCopy, null};
            }
            // BF16 sources whose rows split into 16-byte chunks take the pipelined kernel: a persistent grid of two
            // blocks per multiprocessor, each prefetching its next tile while it works on the current one.
            boolean pipelined = src.type() == IN_BF16 && cols % 8 == 0;
            boolean whole = wholeTiles(src, rows, cols);
            int tiles = gridX * gridY;
            if (linesKnown) {
                rowAmax = rowCopy != null ? knownLines : 0L;
                colAmax = colCopy != null ? knownLines + 4L * rows : 0L;
            } else if (!flat && !amaxKnown && (mode == MODE_TENSOR || mode == MODE_ROWWISE)) {
                if (mode == MODE_TENSOR) {
                    totalAmax = memory.zeroedWords(1);
                } else {
                    int rowWords = rowCopy != null ? rows : 0;
                    lineAmax = memory.zeroedWords(rowWords + (colCopy != null ? cols : 0));
                    rowAmax = rowCopy != null ? lineAmax.pointer() : 0L;
                    colAmax = colCopy != null ? lineAmax.pointer() + 4L * rowWords : 0L;
                }
                if (src.type() == IN_FP8 && whole) {
                    cuda.driver.launch(amaxWholeTilesFp8, "amax_whole_tiles_fp8", gridX, gridY, 1, WHOLE_THREADS, 1,
                            1, 0, cuda.stream, module.args(arena, "amax_whole_tiles_fp8", source, rowAmax, colAmax,
                                    pointerOf(totalAmax)));
                } else {
                    cuda.driver.launch(amaxTiles[src.type()], "amax_tiles",
                            pipelined ? Math.min(tiles, 2 * cuda.multiprocessors) : gridX, pipelined ? 1 : gridY, 1,
                            TILE_THREADS, 1, 1, pipelined ? CudaContext.PIPELINE_STAGE_BYTES : 0, cuda.stream,
                            module.args(arena, "amax_tiles_" + TYPES[src.type()], source, rows, cols, rowAmax,
                                    colAmax, pointerOf(totalAmax), pipelined ? 1 : 0));
                }
                if (reduceTotalAmax != null && totalAmax != null) {
                    reduceTotalAmax.accept(totalAmax);
                }
            }
            if (whole) {
                cuda.driver.launch(castWholeTiles[src.type()], "cast_whole_tiles", cols / 128, rows / 128, 1,
                        WHOLE_THREADS, 1, 1, 0, cuda.stream,
                        module.args(arena, "cast_whole_tiles_" + TYPES[src.type()], source, mode, tile(g), rowCopyArg, colCopyArg,
                                rowAmax, colAmax, amaxKnown ? amaxWord : pointerOf(totalAmax), amaxOut));
                return new DeviceFloat8[] {rowCopy, colCopy};
            }
            cuda.driver.launch(castTiles[src.type()], "cast_tiles",
                    pipelined ? Math.min(tiles, 2 * cuda.multiprocessors) : gridX, pipelined ? 1 : gridY, 1,
                    TILE_THREADS, 1, 1, pipelined ? CudaContext.PIPELINE_STAGE_BYTES : 0, cuda.stream,
                    module.args(arena, "cast_tiles_" + TYPES[src.type()], source, rows, cols, mode, tile(g), rowCopyArg, colCopyArg, rowAmax, colAmax,
                            amaxKnown ? amaxWord : pointerOf(totalAmax), pipelined ? 1 : 0, amaxOut));
        } finally {
            for (DeviceBuffer b : new DeviceBuffer[] {lineAmax, totalAmax}) {
                if (b != null) {
                    b.close();
                }
            }
        }
        return new DeviceFloat8[] {rowCopy, colCopy};
    }

    /**
     * Whether cast_whole_tiles takes this cast (and, for an FP8 source, amax_whole_tiles_fp8 its maxima): data 128 x
     * 128 tiles cover exactly (so neither copy is padded), within the grid's 65,535 tile rows, 16-byte aligned; F32 or
     * BF16 rows without padding, or FP8 codes stored along 1 (each row's codes 16-byte aligned too).
     */
    private static boolean wholeTiles(Source src, int rows, int cols) {
        boolean rowsFit = src.type() == IN_FP8 ? src.axis() == 1 && src.ld() % 16 == 0 : src.ld() == cols;
        return rowsFit && src.data() % 16 == 0 && rows % 128 == 0 && cols % 128 == 0 && rows / 128 <= 65535;
    }

    /** decode(code) / scale for every element, as a row-major rows x cols F32 or BF16 device tensor. */
    DeviceTensor dequantize(DeviceFloat8 q, DType out) {
        DeviceTensor d = memory.allocate(q.rows(), q.cols(), out);
        try (Arena arena = Arena.ofConfined()) {
            long n = (long) q.rows() * q.cols();
            cuda.driver.launch(module.function("dequantize"), "dequantize", (int) Math.min(4096, (n + 255) / 256), 1, 1,
                    256, 1, 1, 0, cuda.stream, module.args(arena, "dequantize", fp8Source(q).pack(arena), q.rows(), q.cols(),
                            d.pointer(), dt(out)));
        }
        return d;
    }

    /** x in another dtype (F32 to BF16 rounds to nearest even). */
    DeviceTensor convert(DeviceTensor x, DType to) {
        DeviceTensor d = memory.allocate(x.rows(), x.cols(), to);
        if (to == x.dtype()) {
            cuda.driver.copyOnDevice(d.pointer(), x.pointer(), x.bytes(), cuda.stream);
            return d;
        }
        try (Arena arena = Arena.ofConfined()) {
            long n = (long) x.rows() * x.cols();
            cuda.driver.launch(module.function("convert"), "convert", (int) Math.min(4096, (n + 255) / 256), 1, 1, 256, 1,
                    1, 0, cuda.stream, module.args(arena, "convert", x.pointer(), d.pointer(), n, to == DType.BF16 ? 1 : 0));
        }
        return d;
    }

    /** Codes as [freePadded][ld], summed index fastest, zero padded. */
    static byte[] kContiguousCodes(Float8Tensor t, int freePadded, int ld) {
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
        cuda.driver.synchronize(cuda.stream);
        cuda.faults.check();
        byte[] stored = memory.downloadBytes(q.codes(), (long) q.storedRows() * q.ld());
        float[] deviceScales = memory.downloadFloats(q.scales(), scaleCount(q));
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
