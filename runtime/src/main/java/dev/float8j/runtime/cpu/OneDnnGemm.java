package dev.float8j.runtime.cpu;

import static dev.float8j.runtime.cpu.OneDnnLibrary.check;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.BFloat16;
import dev.float8j.runtime.Float8Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * An FP8 gemm {@code C[i][j] = sum_k A(i,k) B(j,k)} run as oneDNN's BF16 x BF16 -> F32 matmul, on AMX or
 * AVX512-BF16 where the CPU has them.
 *
 * <p>Every E4M3 and E5M2 value is a BF16 value, so the codes are widened to BF16 exactly, each product is exact,
 * and the sums are F32, as on the Vector API path; only the order of the additions differs (oneDNN's blocking).
 * Scales are handled per operand in one of two ways:
 * <ul>
 * <li><b>folded</b>, for power-of-two scales (MX, and any spec with {@code powerOfTwoScales}): code / scale is the
 * code with a shifted exponent, still exactly a BF16 value, so it is written into the BF16 operand and one gemm
 * over all of K needs no scaling at all. If some folded value would not be an exact, normal BF16 (an extreme
 * scale pushing it out of range), {@link #multiply} returns null and the caller takes the Vector API path;
 * <li><b>applied to the output</b>, for scales constant along K (tensorwise, rowwise, and any block that spans
 * all of K): {@code C[i][j] *= (1/sa_i) * (1/sb_j)} once, in the pass that copies C out of native memory.
 * </ul>
 * Other operands (1x128 and 128x128 blocks with non-power-of-two scales and K longer than a block) are not
 * {@link #accepts accepted}: their scales change along K, which would need one gemm per K block and an F32
 * read-modify-write of all of C per block; they stay on the Vector API path, which applies them per K chunk.
 *
 * <p>Primitives are cached per shape and layout. Calls are serialized (one set of native buffers, reused); oneDNN
 * runs on as many OpenMP threads as the backend has threads.
 *
 * <p>Widening the operands and copying a BF16 C out run on the calling thread alone, not on the backend's workers.
 * OpenMP's threads keep spinning on their cores for a while after each call (libgomp's default wait policy), so
 * workers on those cores would share them with spinning threads: at 2048^3 on two cores, copying the BF16 result
 * out took 1.2-1.8 ms on two threads against 0.6-0.8 ms on one, and the BF16-output call ran about 10% faster
 * (benchmarks/results/cpu.md, Run T). The F32 epilogue, with twice the bytes and a multiply per value, measured
 * faster on the workers, and stays there.
 */
final class OneDnnGemm {
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final int LANES = Fp8Vectors.LANES;

    /** Rows of C per work item of the F32 epilogue. */
    private static final int ROWS_PER_ITEM = 16;

    private final OneDnnLibrary lib;
    private final CpuThreads threads;
    private final MemorySegment engine;
    private final MemorySegment stream;
    private final ConcurrentHashMap<Shape, Plan> plans = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<Fp8Format, Bf16Widening> widenings = new ConcurrentHashMap<>();
    private Arena buffers = Arena.ofShared();
    private MemorySegment aBuffer = MemorySegment.NULL;
    private MemorySegment bBuffer = MemorySegment.NULL;
    private MemorySegment cBuffer = MemorySegment.NULL;

    OneDnnGemm(OneDnnLibrary lib, CpuThreads threads) {
        this.lib = lib;
        this.threads = threads;
        try {
            MemorySegment out = Arena.global().allocate(ADDRESS);
            check((int) lib.engineCreate.invokeExact(out, OneDnnLibrary.ENGINE_CPU, 0L), "dnnl_engine_create");
            engine = out.get(ADDRESS, 0);
            check((int) lib.streamCreate.invokeExact(out, engine, OneDnnLibrary.STREAM_DEFAULT_FLAGS),
                    "dnnl_stream_create");
            stream = out.get(ADDRESS, 0);
            bf16MatmulOrThrow(out);
        } catch (Throwable t) {
            throw OneDnnLibrary.rethrow(t);
        }
    }

    /**
     * Asks oneDNN for a small BF16 matmul: CPUs below AVX-512 (and oneDNN builds limited by ONEDNN_MAX_CPU_ISA) have
     * none, which must be a clear "not available" at selection, not a failure at the first gemm.
     */
    private void bf16MatmulOrThrow(MemorySegment out) throws Throwable {
        try (Arena arena = Arena.ofConfined()) {
            int status = createDescriptor(layouts(arena, new Shape(16, 16, 32, 1, 1, threads.count())),
                    MemorySegment.NULL, out);
            if (status == OneDnnLibrary.STATUS_UNIMPLEMENTED) {
                throw new OneDnnUnavailableException("oneDNN " + lib.version() + " (" + lib.loadedFrom()
                        + ") has no BF16 matmul for this CPU (" + lib.isaName() + "); it needs AVX-512 or newer");
            }
            check(status, "dnnl_matmul_primitive_desc_create for a BF16 probe");
            check((int) lib.primitiveDescDestroy.invokeExact(out.get(ADDRESS, 0)), "dnnl_primitive_desc_destroy");
        }
    }

    /** True if both operands' scales can be folded or applied to the output (see the class comment). */
    static boolean accepts(Float8Tensor a, Float8Tensor b) {
        return accepts(a) && accepts(b);
    }

    /**
     * True if oneDNN's BF16-output matmul takes the operands: {@link #accepts} them, and A's scales do not change along
     * its rows (tensorwise, or folded), so that all scales make one factor per output column. A per-row factor as a
     * binary post-op ({m, 1}) crashed oneDNN 3.8.1's BF16-output matmul on AMX after a few calls at 2048³; for a
     * rowwise A, {@link #multiplyToBf16} takes the F32 destination and rounds in its epilogue instead.
     */
    static boolean acceptsBf16Output(Float8Tensor a, Float8Tensor b) {
        return accepts(a, b) && (a.spec().powerOfTwoScales() || a.spec().granularity() == ScalingGranularity.TENSORWISE);
    }

    private static boolean accepts(Float8Tensor q) {
        return q.spec().powerOfTwoScales() || scalesSpanDepth(q);
    }

    private static boolean scalesSpanDepth(Float8Tensor q) {
        return q.axis() == 1 ? q.blockCols() >= q.cols() : q.blockRows() >= q.rows();
    }

    /** The implementation oneDNN chose for a planned shape (e.g. "brg_matmul:avx10_1_512_amx"); null if none. */
    String implementation(int m, int n, int depth, int aAxis, int bAxis) {
        Plan plan = plans.get(new Shape(m, n, depth, aAxis, bAxis, threads.count()));
        return plan == null ? null : plan.implementation;
    }

    /**
     * C = A . B^T (+ bias[j]) into c (m x n, row-major; every element written) for {@link #accepts accepted} operands
     * with equal depth. False, with c unwritten, if a folded scale made some operand value inexact in BF16 (the caller
     * then uses the Vector API path).
     */
    synchronized boolean multiply(Float8Tensor a, Float8Tensor b, float[] bias, float[] c) {
        requireAccepted(a, b);
        Dims d = widenOperands(a, b, 4);
        if (d == null) {
            return false;
        }
        requireLength(c.length, d);
        throughF32Destination(a, b, d, bias, c, null);
        return true;
    }

    /**
     * As {@link #multiply}, with the result rounded once to BF16: the scales and the bias applied in F32 to the sums
     * before that one rounding, as {@code Backend.gemm} with a BF16 output rounds. Where {@link #acceptsBf16Output}
     * takes the operands, oneDNN does all of it, the scales and bias as post-ops, into a BF16 destination, which its
     * AMX kernels write faster than an F32 one (benchmarks/results/cpu.md, Run O); otherwise (a rowwise A) oneDNN
     * writes F32 and the epilogue rounds as it copies C out. False, with c unwritten, where {@link #multiply} would
     * return false.
     */
    synchronized boolean multiplyToBf16(Float8Tensor a, Float8Tensor b, float[] bias, short[] c) {
        requireAccepted(a, b);
        boolean bf16Destination = acceptsBf16Output(a, b);
        Dims d = widenOperands(a, b, bf16Destination ? 2 : 4);
        if (d == null) {
            return false;
        }
        requireLength(c.length, d);
        if (!bf16Destination) {
            throughF32Destination(a, b, d, bias, null, c);
            return true;
        }
        float[] columnScales = columnFactors(outputScales(a, d.m), outputScales(b, d.n), d.n);
        Epilogue epilogue = new Epilogue(columnScales != null, bias != null);
        Plan plan = plans.computeIfAbsent(new Shape(d.m, d.n, d.depth, a.axis(), b.axis(), threads.count(), epilogue),
                this::plan);
        execute(plan, columnScales, bias);
        copyOut(c, d.m, d.n);
        return true;
    }

    /**
     * oneDNN's F32-output matmul on the widened operands, then the scales and bias applied as C is copied into f32 or
     * rounded into bf16 (the other one null).
     */
    private void throughF32Destination(Float8Tensor a, Float8Tensor b, Dims d, float[] bias, float[] f32,
            short[] bf16) {
        execute(plans.computeIfAbsent(new Shape(d.m, d.n, d.depth, a.axis(), b.axis(), threads.count()), this::plan));
        epilogue(f32, bf16, d.m, d.n, outputScales(a, d.m), outputScales(b, d.n), bias);
    }

    private static void requireAccepted(Float8Tensor a, Float8Tensor b) {
        if (!accepts(a, b)) {
            throw new IllegalArgumentException("oneDNN gemm: scales of " + a.spec() + " x " + b.spec()
                    + " change along K; that gemm stays on the Vector API path");
        }
    }

    private static void requireLength(int length, Dims d) {
        if (length != d.m * d.n) {
            throw new IllegalArgumentException("oneDNN gemm: a result array of " + length + " elements for a " + d.m
                    + " x " + d.n + " result");
        }
    }

    /** The BF16 result in the native buffer copied into c, on the calling thread (see the class comment). */
    private void copyOut(short[] c, int m, int n) {
        MemorySegment.copy(cBuffer, JAVA_SHORT, 0, c, 0, m * n);
    }

    /** The sizes of a gemm: C is m x n, summed over depth. */
    private record Dims(int m, int n, int depth) {
    }

    /**
     * Checks the depths, sizes the native buffers (C at outputBytes per element) and writes both operands there as
     * BF16: the gemm's sizes, or null if a folded value is not an exact BF16 (see {@link #toBf16}).
     */
    private Dims widenOperands(Float8Tensor a, Float8Tensor b, int outputBytes) {
        int m = a.axis() == 1 ? a.rows() : a.cols();
        int n = b.axis() == 1 ? b.rows() : b.cols();
        int depth = a.axis() == 1 ? a.cols() : a.rows();
        int bDepth = b.axis() == 1 ? b.cols() : b.rows();
        if (depth != bDepth) {
            throw new IllegalArgumentException("oneDNN gemm: A sums over " + depth + " elements, B over " + bDepth);
        }
        ensureBuffers(2L * m * depth, 2L * n * depth, (long) outputBytes * m * n);
        return toBf16(a, aBuffer) && toBf16(b, bBuffer) ? new Dims(m, n, depth) : null;
    }

    /**
     * (1/sa) * (1/sb_j) per output column, from A's one row factor (its rows share it: see {@link #acceptsBf16Output})
     * and B's column factors, multiplied in the order the F32 epilogue multiplies them; null where both are folded.
     */
    private static float[] columnFactors(float[] rowScales, float[] columnScales, int n) {
        if (rowScales == null && columnScales == null) {
            return null;
        }
        float rowScale = rowScales == null || rowScales.length == 0 ? 1f : rowScales[0];
        float[] factors = new float[n];
        for (int j = 0; j < n; j++) {
            factors[j] = columnScales == null ? rowScale : columnScales[j] * rowScale;
        }
        return factors;
    }

    private void ensureBuffers(long aBytes, long bBytes, long cBytes) {
        if (aBuffer.byteSize() >= aBytes && bBuffer.byteSize() >= bBytes && cBuffer.byteSize() >= cBytes) {
            return;
        }
        Arena next = Arena.ofShared();
        MemorySegment a = next.allocate(Math.max(aBytes, aBuffer.byteSize()), 64);
        MemorySegment b = next.allocate(Math.max(bBytes, bBuffer.byteSize()), 64);
        MemorySegment c = next.allocate(Math.max(cBytes, cBuffer.byteSize()), 64);
        buffers.close();
        buffers = next;
        aBuffer = a;
        bBuffer = b;
        cBuffer = c;
    }

    /**
     * Writes q's values in its own layout (rows x cols, row-major) as BF16: the codes' values (by table where the
     * vectors allow, {@link Bf16Widening}), divided by the scale where it is folded. False if a folded value is not an
     * exact, normal BF16 value.
     */
    private boolean toBf16(Float8Tensor q, MemorySegment dst) {
        Fp8Vectors.Codec codec = new Fp8Vectors.Codec(q.format());
        byte[] codes = q.codes();
        float[] scales = q.scalesForBackend();
        boolean fold = q.spec().powerOfTwoScales();
        int rows = q.rows();
        int cols = q.cols();
        int blockRows = q.blockRows();
        int blockCols = q.blockCols();
        int scaleCols = q.scaleCols();
        if (!fold && Bf16Widening.available()) {
            widenings.computeIfAbsent(q.format(), Bf16Widening::new).widen(codes, 0, rows * cols, dst);
            return true;
        }
        Bf16Widening folding = fold && Bf16Widening.foldsBlocksOf(blockCols)
                ? widenings.computeIfAbsent(q.format(), Bf16Widening::new) : null;
        for (int r = 0; r < rows; r++) {
            int scaleRow = (r / blockRows) * scaleCols;
            boolean exact = folding != null
                    ? folding.widenFolded(codes, r * cols, cols, dst, scales, scaleRow, blockCols)
                    : convertRow(codec, codes, r * cols, cols, fold ? scales : null, scaleRow, blockCols, dst);
            if (!exact) {
                return false;
            }
        }
        return true;
    }

    /** One row of codes to BF16 at the same element offset; scales null: no folding. */
    private static boolean convertRow(Fp8Vectors.Codec codec, byte[] codes, int off, int cols, float[] scales,
            int scaleRow, int blockCols, MemorySegment dst) {
        int c = 0;
        int vectorEnd = cols - cols % LANES;
        for (; c < vectorEnd; c += LANES) {
            FloatVector v = codec.decode(codes, off + c);
            if (scales != null) {
                int first = c / blockCols;
                int last = (c + LANES - 1) / blockCols;
                FloatVector inverse;
                if (first == last) {
                    inverse = FloatVector.broadcast(Fp8Vectors.FLOATS, 1f / scales[scaleRow + first]);
                } else if (blockCols == 1) {
                    inverse = FloatVector.broadcast(Fp8Vectors.FLOATS, 1f)
                            .div(FloatVector.fromArray(Fp8Vectors.FLOATS, scales, scaleRow + c));
                } else {
                    float[] lanes = new float[LANES];
                    for (int l = 0; l < LANES; l++) {
                        lanes[l] = 1f / scales[scaleRow + (c + l) / blockCols];
                    }
                    inverse = FloatVector.fromArray(Fp8Vectors.FLOATS, lanes, 0);
                }
                v = v.mul(inverse);
            }
            IntVector bits = v.reinterpretAsInts();
            if (scales != null && notExactNormalBf16(bits)) {
                return false;
            }
            bits.lanewise(VectorOperators.LSHR, 16).convertShape(VectorOperators.I2S, Fp8Vectors.SHORTS, 0)
                    .reinterpretAsShorts().intoMemorySegment(dst, 2L * (off + c), ORDER);
        }
        for (; c < cols; c++) {
            float value = codec.format.decode(codes[off + c]);
            if (scales != null) {
                value *= 1f / scales[scaleRow + c / blockCols];
            }
            int bits = Float.floatToRawIntBits(value);
            if (scales != null && notExactNormalBf16(bits)) {
                return false;
            }
            dst.set(JAVA_SHORT, 2L * (off + c), (short) (bits >>> 16));
        }
        return true;
    }

    /**
     * A lane whose low 16 bits are set (not a BF16 value), or that is subnormal (AMX flushes BF16 subnormals to
     * zero), infinite or NaN.
     */
    private static boolean notExactNormalBf16(IntVector bits) {
        IntVector exponent = bits.lanewise(VectorOperators.LSHR, 23).and(0xFF);
        IntVector magnitude = bits.and(0x7FFF_FFFF);
        return bits.and(0xFFFF).compare(VectorOperators.NE, 0)
                .or(exponent.eq(0).and(magnitude.compare(VectorOperators.NE, 0)))
                .or(exponent.eq(0xFF)).anyTrue();
    }

    private static boolean notExactNormalBf16(int bits) {
        int exponent = (bits >>> 23) & 0xFF;
        return (bits & 0xFFFF) != 0 || (exponent == 0 && (bits & 0x7FFF_FFFF) != 0) || exponent == 0xFF;
    }

    /** 1 / scale per free index for scales applied to the output; null where they are folded into the operand. */
    private static float[] outputScales(Float8Tensor q, int free) {
        if (q.spec().powerOfTwoScales()) {
            return null;
        }
        float[] scales = q.scalesForBackend();
        float[] inverse = new float[free];
        for (int i = 0; i < free; i++) {
            int index = q.axis() == 1 ? (i / q.blockRows()) * q.scaleCols() : i / q.blockCols();
            inverse[i] = 1f / scales[index];
        }
        return inverse;
    }

    /** The matmul primitive for one shape: src A {m, depth}, weights B^T {depth, n}, dst {m, n}, strided views. */
    private Plan plan(Shape s) {
        try (Arena arena = Arena.ofConfined()) {
            Layouts layouts = layouts(arena, s);
            MemorySegment out = arena.allocate(ADDRESS);
            lib.ompSetNumThreads.invokeExact(s.threads);
            MemorySegment attr = MemorySegment.NULL;
            List<MemorySegment> postOpSources = new ArrayList<>();
            if (s.epilogue != null) {
                attr = postOpsAttr(s, postOpSources);
            }
            try {
                check(createDescriptor(layouts, attr, out), "dnnl_matmul_primitive_desc_create for BF16 " + s);
            } finally {
                if (!attr.equals(MemorySegment.NULL)) {
                    check((int) lib.attrDestroy.invokeExact(attr), "dnnl_primitive_attr_destroy");
                }
            }
            MemorySegment descriptor = out.get(ADDRESS, 0);
            check((int) lib.primitiveDescQuery.invokeExact(descriptor, OneDnnLibrary.QUERY_IMPL_INFO_STR, 0, out),
                    "dnnl_primitive_desc_query");
            String implementation = out.get(ADDRESS, 0).reinterpret(Long.MAX_VALUE).getString(0);
            check((int) lib.primitiveCreate.invokeExact(out, descriptor), "dnnl_primitive_create");
            MemorySegment primitive = out.get(ADDRESS, 0);
            check((int) lib.primitiveDescDestroy.invokeExact(descriptor), "dnnl_primitive_desc_destroy");
            return new Plan(primitive, layouts.src(), layouts.weights(), layouts.dst(), postOpSources, implementation);
        } catch (Throwable t) {
            throw OneDnnLibrary.rethrow(t);
        }
    }

    /**
     * The attributes of a BF16-output matmul: binary post-ops multiplying by the column factors ({1, n}) and adding the
     * bias ({1, n}), those of them s's epilogue has, in that order; their source descriptors are added to sources
     * (kept for the primitive's lifetime).
     */
    private MemorySegment postOpsAttr(Shape s, List<MemorySegment> sources) throws Throwable {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) lib.postOpsCreate.invokeExact(out), "dnnl_post_ops_create");
            MemorySegment postOps = out.get(ADDRESS, 0);
            try {
                if (s.epilogue.columnScales()) {
                    sources.add(memoryDesc(arena, 1, s.n, s.n, 1, OneDnnLibrary.DATA_F32));
                    appendBinary(postOps, OneDnnLibrary.ALG_BINARY_MUL, sources.getLast());
                }
                if (s.epilogue.bias()) {
                    sources.add(memoryDesc(arena, 1, s.n, s.n, 1, OneDnnLibrary.DATA_F32));
                    appendBinary(postOps, OneDnnLibrary.ALG_BINARY_ADD, sources.getLast());
                }
                check((int) lib.attrCreate.invokeExact(out), "dnnl_primitive_attr_create");
                MemorySegment attr = out.get(ADDRESS, 0);
                check((int) lib.attrSetPostOps.invokeExact(attr, postOps), "dnnl_primitive_attr_set_post_ops");
                return attr;
            } finally {
                check((int) lib.postOpsDestroy.invokeExact(postOps), "dnnl_post_ops_destroy");
            }
        }
    }

    private void appendBinary(MemorySegment postOps, int algorithm, MemorySegment source) throws Throwable {
        check((int) lib.postOpsAppendBinary.invokeExact(postOps, algorithm, source), "dnnl_post_ops_append_binary");
    }

    /** The memory descriptors of a matmul: src A {m, depth}, weights B^T {depth, n}, dst {m, n}. */
    private record Layouts(MemorySegment src, MemorySegment weights, MemorySegment dst) {
    }

    /** Strided views of the operands as stored; kept for the primitive's lifetime. */
    private Layouts layouts(Arena arena, Shape s) throws Throwable {
        // A with axis 1 is stored m x depth, with axis 0 depth x m; B with axis 1 n x depth, with axis 0 depth x n.
        MemorySegment src = memoryDesc(arena, s.m, s.depth, s.aAxis == 1 ? s.depth : 1, s.aAxis == 1 ? 1 : s.m,
                OneDnnLibrary.DATA_BF16);
        MemorySegment weights = memoryDesc(arena, s.depth, s.n, s.bAxis == 1 ? 1 : s.n, s.bAxis == 1 ? s.depth : 1,
                OneDnnLibrary.DATA_BF16);
        return new Layouts(src, weights, memoryDesc(arena, s.m, s.n, s.n, 1,
                s.epilogue == null ? OneDnnLibrary.DATA_F32 : OneDnnLibrary.DATA_BF16));
    }

    /** Asks oneDNN for the matmul descriptor of these layouts and attributes (or NULL) into out; returns its status. */
    private int createDescriptor(Layouts l, MemorySegment attr, MemorySegment out) throws Throwable {
        return (int) lib.matmulPrimitiveDescCreate.invokeExact(out, engine, l.src(), l.weights(), MemorySegment.NULL,
                l.dst(), attr);
    }

    /** A 2-D memory descriptor; kept for the primitive's lifetime (plans live as long as the backend). */
    private MemorySegment memoryDesc(Arena arena, long rows, long cols, long rowStride, long colStride, int type)
            throws Throwable {
        MemorySegment dims = arena.allocate(JAVA_LONG, OneDnnLibrary.MAX_NDIMS);
        MemorySegment strides = arena.allocate(JAVA_LONG, OneDnnLibrary.MAX_NDIMS);
        dims.setAtIndex(JAVA_LONG, 0, rows);
        dims.setAtIndex(JAVA_LONG, 1, cols);
        strides.setAtIndex(JAVA_LONG, 0, rowStride);
        strides.setAtIndex(JAVA_LONG, 1, colStride);
        MemorySegment out = arena.allocate(ADDRESS);
        check((int) lib.memoryDescCreateWithStrides.invokeExact(out, 2, dims, type, strides),
                "dnnl_memory_desc_create_with_strides");
        return out.get(ADDRESS, 0);
    }

    /** Runs plan on the native buffers; postOpData: the post-ops' sources in order, null ones skipped. */
    private void execute(Plan plan, float[]... postOpData) {
        try (Arena arena = Arena.ofConfined()) {
            List<Integer> kinds = new ArrayList<>(List.of(OneDnnLibrary.ARG_SRC, OneDnnLibrary.ARG_WEIGHTS,
                    OneDnnLibrary.ARG_DST));
            List<MemorySegment> memories = new ArrayList<>(List.of(memory(arena, plan.src, aBuffer),
                    memory(arena, plan.weights, bBuffer), memory(arena, plan.dst, cBuffer)));
            int postOp = 0;
            for (float[] data : postOpData) {
                if (data != null) {
                    kinds.add(OneDnnLibrary.ARG_ATTR_MULTIPLE_POST_OP_BASE * (postOp + 1) | OneDnnLibrary.ARG_SRC_1);
                    memories.add(memory(arena, plan.postOpSources.get(postOp), arena.allocateFrom(JAVA_FLOAT, data)));
                    postOp++;
                }
            }
            int count = kinds.size();
            MemorySegment args = arena.allocate(OneDnnLibrary.EXEC_ARG, count);
            for (int i = 0; i < count; i++) {
                MemorySegment arg = args.asSlice(i * OneDnnLibrary.EXEC_ARG.byteSize(), OneDnnLibrary.EXEC_ARG);
                arg.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, kinds.get(i));
                arg.set(ADDRESS, 8, memories.get(i));
            }
            try {
                lib.ompSetNumThreads.invokeExact(threads.count());
                check((int) lib.primitiveExecute.invokeExact(plan.primitive, stream, count, args),
                        "dnnl_primitive_execute");
                check((int) lib.streamWait.invokeExact(stream), "dnnl_stream_wait");
            } finally {
                for (MemorySegment memory : memories) {
                    check((int) lib.memoryDestroy.invokeExact(memory), "dnnl_memory_destroy");
                }
            }
        } catch (Throwable t) {
            throw OneDnnLibrary.rethrow(t);
        }
    }

    private MemorySegment memory(Arena arena, MemorySegment descriptor, MemorySegment data) throws Throwable {
        MemorySegment out = arena.allocate(ADDRESS);
        MethodHandle create = lib.memoryCreate;
        check((int) create.invokeExact(out, descriptor, engine, data), "dnnl_memory_create");
        return out.get(ADDRESS, 0);
    }

    /**
     * C * rowScales[i] * columnScales[j] (+ bias[j]), copied out of native memory into f32, or rounded once into bf16
     * (the other one null), rows split among the threads.
     */
    private void epilogue(float[] f32, short[] bf16, int m, int n, float[] rowScales, float[] columnScales,
            float[] bias) {
        MemorySegment out = cBuffer;
        int items = (m + ROWS_PER_ITEM - 1) / ROWS_PER_ITEM;
        threads.forEachItem(items, item -> {
            int end = Math.min(m, (item + 1) * ROWS_PER_ITEM);
            int vectorEnd = n - n % LANES;
            for (int i = item * ROWS_PER_ITEM; i < end; i++) {
                float rowScale = rowScales == null ? 1f : rowScales[i];
                int row = i * n;
                int j = 0;
                for (; j < vectorEnd; j += LANES) {
                    FloatVector v = FloatVector.fromMemorySegment(Fp8Vectors.FLOATS, out, 4L * (row + j), ORDER);
                    if (columnScales != null) {
                        v = v.mul(FloatVector.fromArray(Fp8Vectors.FLOATS, columnScales, j).mul(rowScale));
                    } else if (rowScales != null) {
                        v = v.mul(rowScale);
                    }
                    if (bias != null) {
                        v = v.add(FloatVector.fromArray(Fp8Vectors.FLOATS, bias, j));
                    }
                    if (bf16 != null) {
                        Bf16Rounding.round(v, bf16, row + j);
                    } else {
                        v.intoArray(f32, row + j);
                    }
                }
                for (; j < n; j++) {
                    float v = out.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, row + j);
                    if (columnScales != null) {
                        v *= rowScale * columnScales[j];
                    } else if (rowScales != null) {
                        v *= rowScale;
                    }
                    v = bias == null ? v : v + bias[j];
                    if (bf16 != null) {
                        bf16[row + j] = BFloat16.fromFloat(v);
                    } else {
                        f32[row + j] = v;
                    }
                }
            }
        });
    }

    /** A matmul's shape and layout; epilogue null: F32 output, scales and bias applied after, in Java. */
    private record Shape(int m, int n, int depth, int aAxis, int bAxis, int threads, Epilogue epilogue) {
        Shape(int m, int n, int depth, int aAxis, int bAxis, int threads) {
            this(m, n, depth, aAxis, bAxis, threads, null);
        }
    }

    /** Which post-ops a BF16-output matmul applies, in this order: the column factors, the bias. */
    private record Epilogue(boolean columnScales, boolean bias) {
    }

    private record Plan(MemorySegment primitive, MemorySegment src, MemorySegment weights, MemorySegment dst,
            List<MemorySegment> postOpSources, String implementation) {
    }
}
