package dev.float8j.runtime.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.ConcurrentHashMap;

/**
 * FFM bindings to cuBLASLt (libcublasLt.so.13, then .12): scaled FP8 matmuls in every scale mode
 * the GPU accepts and BF16/F32 matmuls. Plans (descriptors plus the heuristic's algorithm) are cached
 * per shape. Failures carry cublasLtGetStatusString's text.
 *
 * <p>cuBLASLt is column-major. A row-major product {@code C[i][j] = sum_k A(i,k) B(j,k)} of M x N is
 * the column-major N x M matrix {@code B' · A'}, so cuBLASLt's "A" is our B and its "B" is our A.
 */
final class CublasLt {
    static final int CUDA_R_32F = 0;
    static final int CUDA_R_16BF = 14;
    static final int CUDA_R_8F_E4M3 = 28;
    static final int CUDA_R_8F_E5M2 = 29;
    static final int COMPUTE_32F = 68;
    static final int OP_N = 0;
    static final int OP_T = 1;

    static final int DESC_TRANSA = 3;
    static final int DESC_TRANSB = 4;
    static final int DESC_EPILOGUE = 7;
    static final int DESC_BIAS_POINTER = 8;
    static final int DESC_A_SCALE_POINTER = 17;
    static final int DESC_B_SCALE_POINTER = 18;
    static final int DESC_FAST_ACCUM = 25;
    static final int DESC_BIAS_DATA_TYPE = 26;
    static final int DESC_A_SCALE_MODE = 31;
    static final int DESC_B_SCALE_MODE = 32;
    static final int PREF_MAX_WORKSPACE_BYTES = 1;
    /** cublasLtEpilogue_t: add a bias vector, one element per row of D (cuBLASLt's m), to every column. */
    static final int EPILOGUE_BIAS = 4;

    /** cublasLtMatmulMatrixScale_t values. */
    static final int SCALE_SCALAR_32F = 0;
    static final int SCALE_OUTER_VEC_32F = 3;
    static final int SCALE_VEC128_32F = 4;
    static final int SCALE_BLK128X128_32F = 5;

    private static final int HEURISTIC_RESULT_BYTES = 96;

    private final NativeLibrary lib;
    private final MethodHandle cublasLtCreate;
    private final MethodHandle cublasLtGetVersion;
    private final MethodHandle cublasLtGetStatusString;
    private final MethodHandle cublasLtMatmulDescCreate;
    private final MethodHandle cublasLtMatmulDescSetAttribute;
    private final MethodHandle cublasLtMatrixLayoutCreate;
    private final MethodHandle cublasLtMatmulPreferenceCreate;
    private final MethodHandle cublasLtMatmulPreferenceSetAttribute;
    private final MethodHandle cublasLtMatmulAlgoGetHeuristic;
    private final MethodHandle cublasLtMatmul;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment alphaOne;
    private final MemorySegment betaZero;
    private final MemorySegment betaOne;
    private final ConcurrentHashMap<Shape, Plan> plans = new ConcurrentHashMap<>();
    private MemorySegment handle;
    private MemorySegment preference;
    private long workspace;

    /**
     * The workspace offered to every matmul, in bytes: {@code -Dfloat8j.cuda.cublasLtWorkspace=BYTES}, else 32 MiB.
     * The heuristic's choice can depend on it, so the benchmarks can compare sizes. Read when the backend starts, so
     * that a bad value fails that call with its own message.
     */
    private final long workspaceBytes = workspaceBytes(System.getProperty("float8j.cuda.cublasLtWorkspace"));

    CublasLt() {
        lib = NativeLibrary.open("cuBLASLt", "float8j.cuda.libcublaslt", "libcublasLt.so.13", "libcublasLt.so.12",
                "libcublasLt.so");
        cublasLtCreate = lib.bind("cublasLtCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        cublasLtGetVersion = lib.bind("cublasLtGetVersion", FunctionDescriptor.of(JAVA_LONG));
        cublasLtGetStatusString = lib.bind("cublasLtGetStatusString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        cublasLtMatmulDescCreate = lib.bind("cublasLtMatmulDescCreate",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        cublasLtMatmulDescSetAttribute = lib.bind("cublasLtMatmulDescSetAttribute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        cublasLtMatrixLayoutCreate = lib.bind("cublasLtMatrixLayoutCreate",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG));
        cublasLtMatmulPreferenceCreate = lib.bind("cublasLtMatmulPreferenceCreate",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
        cublasLtMatmulPreferenceSetAttribute = lib.bind("cublasLtMatmulPreferenceSetAttribute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        cublasLtMatmulAlgoGetHeuristic = lib.bind("cublasLtMatmulAlgoGetHeuristic", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        cublasLtMatmul = lib.bind("cublasLtMatmul", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG,
                ADDRESS));
        alphaOne = arena.allocateFrom(JAVA_FLOAT, 1f);
        betaZero = arena.allocateFrom(JAVA_FLOAT, 0f);
        betaOne = arena.allocateFrom(JAVA_FLOAT, 1f);
    }

    /** The driver, whose kernel timer (when on) also times matmuls. */
    private CudaDriver driver;

    /** Creates the handle, the preference and the workspace; needs a current context. */
    void start(CudaDriver driver) {
        this.driver = driver;
        try {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cublasLtCreate.invokeExact(out), "cublasLtCreate");
            handle = out.get(ADDRESS, 0);
            check((int) cublasLtMatmulPreferenceCreate.invokeExact(out), "cublasLtMatmulPreferenceCreate");
            preference = out.get(ADDRESS, 0);
            MemorySegment ws = arena.allocateFrom(JAVA_LONG, workspaceBytes);
            check((int) cublasLtMatmulPreferenceSetAttribute.invokeExact(preference, PREF_MAX_WORKSPACE_BYTES, ws, 8L),
                    "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)");
            workspace = driver.malloc(workspaceBytes);
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
    }

    /** The workspace size a property value names (null: 32 MiB); anything but a positive multiple of 256 fails. */
    static long workspaceBytes(String property) {
        if (property == null) {
            return 32L << 20;
        }
        long bytes;
        try {
            bytes = Long.parseLong(property.trim());
        } catch (NumberFormatException e) {
            bytes = -1;
        }
        if (bytes <= 0 || bytes % 256 != 0) {
            throw new IllegalArgumentException("-Dfloat8j.cuda.cublasLtWorkspace=" + property
                    + ": needs a positive number of bytes that is a multiple of 256");
        }
        return bytes;
    }

    String loadedFrom() {
        return lib.loadedFrom();
    }

    long version() {
        try {
            return (long) cublasLtGetVersion.invokeExact();
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
    }

    void check(int status, String call) {
        if (status != 0) {
            String text;
            try {
                text = NativeLibrary.cString((MemorySegment) cublasLtGetStatusString.invokeExact(status));
            } catch (Throwable t) {
                text = "unknown status";
            }
            throw new CudaException(call + " failed: cuBLAS status " + status + " (" + text + ")");
        }
    }

    /**
     * One matmul shape in cuBLASLt's column-major terms: D (m x n, ld m) = op(A) · op(B) over k.
     * A is stored k x m (lda) when transa is T, m x k when N; B is k x n (ldb) when transb is N, n x k when T.
     * Scale modes are -1 for unscaled operands (BF16/F32 matmuls). accumulate: D = op(A)·op(B) + C (beta = 1; C has
     * D's layout and may be D itself) instead of D = op(A)·op(B). biasType: -1 for none, else the cudaDataType of a bias vector of m
     * elements that the BIAS epilogue adds to every column of D before D is written in dType.
     */
    record Shape(long m, long n, long k, int aType, int bType, int dType, int transa, int transb, long lda, long ldb,
            int aScaleMode, int bScaleMode, boolean fastAccum, boolean accumulate, int biasType) {

        /** The shape of a matmul without bias. */
        Shape(long m, long n, long k, int aType, int bType, int dType, int transa, int transb, long lda, long ldb,
                int aScaleMode, int bScaleMode, boolean fastAccum, boolean accumulate) {
            this(m, n, k, aType, bType, dType, transa, transb, lda, ldb, aScaleMode, bScaleMode, fastAccum, accumulate, -1);
        }

        /** This shape with D written in the given cudaDataType. */
        Shape withOutput(int type) {
            return new Shape(m, n, k, aType, bType, type, transa, transb, lda, ldb, aScaleMode, bScaleMode, fastAccum,
                    accumulate, biasType);
        }

        /** A short name for timings: operand and output types, m x n x k and the scale modes. */
        String label() {
            return "cublasLt " + typeName(aType) + "·" + typeName(bType) + "→" + typeName(dType) + " " + m + "x" + n
                    + "x" + k + (aScaleMode >= 0 ? " scales " + aScaleMode + "/" + bScaleMode : "")
                    + (accumulate ? " +=" : "") + (biasType >= 0 ? " +bias" : "");
        }

        private static String typeName(int cudaType) {
            return switch (cudaType) {
                case CUDA_R_32F -> "f32";
                case CUDA_R_16BF -> "bf16";
                case CUDA_R_8F_E4M3 -> "e4m3";
                case CUDA_R_8F_E5M2 -> "e5m2";
                default -> "type" + cudaType;
            };
        }

        /** This shape with C added (beta = 1). */
        Shape withAccumulate() {
            return new Shape(m, n, k, aType, bType, dType, transa, transb, lda, ldb, aScaleMode, bScaleMode, fastAccum,
                    true, biasType);
        }

        /** This shape with a bias of the given cudaDataType added in the epilogue. */
        Shape withBias(int type) {
            return new Shape(m, n, k, aType, bType, dType, transa, transb, lda, ldb, aScaleMode, bScaleMode, fastAccum,
                    accumulate, type);
        }
    }

    private record Plan(MemorySegment desc, MemorySegment aLayout, MemorySegment bLayout, MemorySegment dLayout,
            MemorySegment algo) {
    }

    /** Runs D = op(A)·op(B) (or D += with shape.accumulate) on device pointers; scale pointers are 0 for unscaled matmuls. */
    void matmul(Shape shape, long a, long b, long d, long aScale, long bScale, MemorySegment stream) {
        matmul(shape, a, b, d, d, aScale, bScale, 0, stream);
    }

    /**
     * As {@link #matmul(Shape, long, long, long, long, long, MemorySegment)}, adding the bias vector at bias and, with
     * shape.accumulate, the matrix at c (D's layout; c may be d).
     */
    void matmul(Shape shape, long a, long b, long c, long d, long aScale, long bScale, long bias, MemorySegment stream) {
        Plan plan = plans.computeIfAbsent(shape, this::plan);
        try (Arena call = Arena.ofConfined()) {
            if (shape.aScaleMode() >= 0) {
                setPointer(plan.desc(), DESC_A_SCALE_POINTER, aScale, call);
                setPointer(plan.desc(), DESC_B_SCALE_POINTER, bScale, call);
            }
            if (shape.biasType() >= 0) {
                setPointer(plan.desc(), DESC_BIAS_POINTER, bias, call);
            }
            // a local, not a conditional in the call: invokeExact would see the conditional's type as Object
            MemorySegment beta = shape.accumulate() ? betaOne : betaZero;
            KernelTimes times = driver.kernelTimes;
            if (times != null) {
                times.before(stream);
            }
            check((int) cublasLtMatmul.invokeExact(handle, plan.desc(), alphaOne, MemorySegment.ofAddress(a),
                    plan.aLayout(), MemorySegment.ofAddress(b), plan.bLayout(), beta, MemorySegment.ofAddress(c),
                    plan.dLayout(), MemorySegment.ofAddress(d), plan.dLayout(), plan.algo(),
                    MemorySegment.ofAddress(workspace), workspaceBytes, stream), "cublasLtMatmul(" + shape + ")");
            if (times != null) {
                times.after(shape.label(), stream);
            }
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
    }

    private void setPointer(MemorySegment desc, int attribute, long pointer, Arena call) throws Throwable {
        MemorySegment value = call.allocateFrom(JAVA_LONG, pointer);
        check((int) cublasLtMatmulDescSetAttribute.invokeExact(desc, attribute, value, 8L),
                "cublasLtMatmulDescSetAttribute(" + attribute + ")");
    }

    private void setInt(MemorySegment desc, int attribute, int value, String what) throws Throwable {
        MemorySegment v = arena.allocateFrom(JAVA_INT, value);
        check((int) cublasLtMatmulDescSetAttribute.invokeExact(desc, attribute, v, 4L),
                "cublasLtMatmulDescSetAttribute(" + what + ")");
    }

    private MemorySegment layout(int type, long rows, long cols, long ld) throws Throwable {
        MemorySegment out = arena.allocate(ADDRESS);
        check((int) cublasLtMatrixLayoutCreate.invokeExact(out, type, rows, cols, ld),
                "cublasLtMatrixLayoutCreate(" + rows + "x" + cols + ", ld " + ld + ")");
        return out.get(ADDRESS, 0);
    }

    private Plan plan(Shape s) {
        try {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cublasLtMatmulDescCreate.invokeExact(out, COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
            MemorySegment desc = out.get(ADDRESS, 0);
            setInt(desc, DESC_TRANSA, s.transa(), "TRANSA");
            setInt(desc, DESC_TRANSB, s.transb(), "TRANSB");
            if (s.aScaleMode() >= 0) {
                setInt(desc, DESC_A_SCALE_MODE, s.aScaleMode(), "A_SCALE_MODE=" + s.aScaleMode());
                setInt(desc, DESC_B_SCALE_MODE, s.bScaleMode(), "B_SCALE_MODE=" + s.bScaleMode());
                // The heuristic wants scale pointers set; it never reads them, any aligned address serves.
                setPointer(desc, DESC_A_SCALE_POINTER, workspace, arena);
                setPointer(desc, DESC_B_SCALE_POINTER, workspace, arena);
                // FAST_ACCUM is an int8_t attribute.
                MemorySegment fast = arena.allocateFrom(JAVA_BYTE, (byte) (s.fastAccum() ? 1 : 0));
                check((int) cublasLtMatmulDescSetAttribute.invokeExact(desc, DESC_FAST_ACCUM, fast, 1L),
                        "cublasLtMatmulDescSetAttribute(FAST_ACCUM)");
            }
            if (s.biasType() >= 0) {
                setInt(desc, DESC_EPILOGUE, EPILOGUE_BIAS, "EPILOGUE=BIAS");
                setInt(desc, DESC_BIAS_DATA_TYPE, s.biasType(), "BIAS_DATA_TYPE=" + s.biasType());
                // as for the scales: the heuristic wants a pointer, any aligned address serves
                setPointer(desc, DESC_BIAS_POINTER, workspace, arena);
            }
            MemorySegment aLayout = s.transa() == OP_T ? layout(s.aType(), s.k(), s.m(), s.lda())
                    : layout(s.aType(), s.m(), s.k(), s.lda());
            MemorySegment bLayout = s.transb() == OP_N ? layout(s.bType(), s.k(), s.n(), s.ldb())
                    : layout(s.bType(), s.n(), s.k(), s.ldb());
            MemorySegment dLayout = layout(s.dType(), s.m(), s.n(), s.m());
            MemorySegment results = arena.allocate(HEURISTIC_RESULT_BYTES, 8);
            MemorySegment count = arena.allocate(JAVA_INT);
            check((int) cublasLtMatmulAlgoGetHeuristic.invokeExact(handle, desc, aLayout, bLayout, dLayout, dLayout,
                    preference, 1, results, count), "cublasLtMatmulAlgoGetHeuristic(" + s + ")");
            if (count.get(JAVA_INT, 0) == 0) {
                throw new CudaException("cuBLASLt has no algorithm for " + s);
            }
            return new Plan(desc, aLayout, bLayout, dLayout, results.asSlice(0, 64));
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
    }
}
