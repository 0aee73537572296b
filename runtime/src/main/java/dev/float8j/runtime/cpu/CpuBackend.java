package dev.float8j.runtime.cpu;

import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ScaledCast;
import dev.float8j.runtime.ops.ModelOps;
import java.util.Arrays;
import java.util.List;

/**
 * The CPU backend: quantization and gemms vectorized with the JDK Vector API ({@code jdk.incubator.vector}),
 * blocked for the caches and spread over {@code float8j.threads} threads (default: all processors).
 *
 * <p>Quantization equals {@link dev.float8j.runtime.backend.ReferenceBackend} bit for bit. Gemms decode FP8 (or
 * BF16) once into packed float32 panels and accumulate in float32 with FMA; they equal the reference up to
 * the order of float32 additions. Block scales are applied per K chunk (the shorter of the two operands'
 * block extents along K), tensorwise and rowwise scales once at the end, as the reference does.
 *
 * <p>Where the CPU has AMX or AVX512-BF16 and oneDNN is on the classpath, FP8 gemms whose scales are constant
 * along K or powers of two run as oneDNN BF16 matmuls instead ({@link OneDnnGemm}, chosen by {@link MatrixUnitPath};
 * {@link #gemmPath()} says which).
 *
 * <p>The transformer's other ops ({@link #ops()}, also {@link #hostOps()}) are {@link CpuModelOps}: float32 on
 * vectors and the same threads.
 */
public final class CpuBackend implements Backend {
    /** Rows of a result per work item when an F32 gemm result is rounded to BF16. */
    private static final int ROUNDING_ROWS = 16;

    private final CpuThreads threads;
    private final ArrayPool pool;
    private final CpuQuantizer quantizer;
    private final CpuModelOps ops;
    private final MatrixUnitPath matrixUnit;

    /** A backend on {@code float8j.threads} threads (default: every available processor). */
    public CpuBackend() {
        this(CpuThreads.defaultCount());
    }

    /** A backend on its own pool of the given number of threads (the caller's thread being one of them). */
    public CpuBackend(int threadCount) {
        this(threadCount, ArrayPool.defaultCapacity());
    }

    /** A backend that keeps at most poolBytes of released arrays for reuse. */
    CpuBackend(int threadCount, long poolBytes) {
        this(threadCount, poolBytes, System.getProperty(MatrixUnitPath.PROPERTY, "auto"));
    }

    /** A backend whose FP8 gemms take oneDNN per oneDnnMode: auto, on or off (see {@link MatrixUnitPath}). */
    CpuBackend(int threadCount, long poolBytes, String oneDnnMode) {
        this.threads = new CpuThreads(threadCount);
        this.pool = new ArrayPool(poolBytes);
        this.quantizer = new CpuQuantizer(threads, pool);
        this.ops = new CpuModelOps(threads);
        this.matrixUnit = MatrixUnitPath.select(oneDnnMode, threads);
    }

    /**
     * Which path FP8 gemms take: oneDNN's BF16 matmul where it applies (see {@code -Dfloat8j.onednn}), or the
     * Vector API, and why.
     */
    public String gemmPath() {
        return matrixUnit.description();
    }

    ArrayPool pool() {
        return pool;
    }

    @Override
    public String name() {
        return "cpu";
    }

    /** The worker threads that gemms and quantizations use. */
    public int threads() {
        return threads.count();
    }

    /** The transformer's non-gemm ops in float32 on this backend's threads ({@link CpuModelOps}). */
    @Override
    public ModelOps ops() {
        return ops;
    }

    /** The same ops: this backend computes on host tensors. */
    @Override
    public ModelOps hostOps() {
        return ops;
    }

    @Override
    public Float8Tensor quantize(Tensor x, QuantSpec spec) {
        return quantizer.quantize(x, spec, x.dtype());
    }

    @Override
    public Float8Tensor[] quantizeBothAxes(Tensor x, QuantSpec alongColumns, QuantSpec alongRows) {
        return quantizer.quantizeBothAxes(x, alongColumns, alongRows);
    }

    /** Vectorized on this backend's threads ({@link CpuQuantizer#quantizeWithScales}): delayed scaling casts this way. */
    @Override
    public ScaledCast quantizeWithScale(Tensor x, QuantSpec spec, float scale) {
        return quantizeWithScales(x, List.of(spec), new float[] {scale})[0];
    }

    /** One pass over x for one or two specs (a delayed cast along both axes reads x once); more, spec by spec. */
    @Override
    public ScaledCast[] quantizeWithScales(Tensor x, List<QuantSpec> specs, float[] scales) {
        if (specs.size() != scales.length) {
            throw new IllegalArgumentException(specs.size() + " specs and " + scales.length + " scales");
        }
        if (specs.size() > 2) {
            return Backend.super.quantizeWithScales(x, specs, scales);
        }
        for (int i = 0; i < scales.length; i++) {
            Backend.checkGivenScale(specs.get(i), scales[i]);
        }
        return quantizer.quantizeWithScales(toHost(x), specs, scales);
    }

    @Override
    public Tensor dequantize(Float8Tensor q) {
        return quantizer.dequantize(q);
    }

    @Override
    public Float8Tensor requantize(Float8Tensor q, QuantSpec spec) {
        Tensor values = quantizer.dequantize(q);
        Float8Tensor r = quantizer.quantize(values, spec, q.originalDType());
        release(values);
        return r;
    }

    /**
     * Marks q released and, once no view of its arrays is live and they are this backend's own results, keeps
     * them for the next quantization of the same size (see {@link Backend#release(Float8Tensor)}).
     */
    @Override
    public void release(Float8Tensor q) {
        toHost(q); // refuses device tensors
        byte[] codes = q.codes(); // throws if q was released already
        float[] scales = q.scalesForBackend();
        if (q.markReleased()) {
            pool.put(codes);
            pool.put(scales);
        }
    }

    /** As {@link #release(Float8Tensor)}, for the F32 results of dequantize and the BF16 results of gemms. */
    @Override
    public void release(Tensor t) {
        toHost(t); // refuses device tensors
        Object data = t.isReleased() ? null : t.dtype() == DType.F32 ? t.data() : t.bf16Data();
        if (t.markReleased() && data != null) {
            pool.put(data);
        }
    }

    @Override
    public Tensor gemm(Float8Tensor a, Float8Tensor b) {
        return fp8Gemm(a, b, null, DType.F32);
    }

    /**
     * The gemm in out, the bias (or null) added in its output write, into an array from the pool (see
     * {@link #release(Tensor)}). A BF16 result of operands {@link OneDnnGemm#accepts} takes comes from oneDNN's
     * matmul rounded once after the scales and bias ({@link OneDnnGemm#multiplyToBf16}); an F32 one from its
     * F32-output matmul; otherwise (or where a folded scale is inexact in BF16) the Vector API computes the F32 result,
     * rounded once to out by the threads.
     */
    private Tensor fp8Gemm(Float8Tensor a, Float8Tensor b, Tensor bias, DType out) {
        GemmOperand left = GemmOperand.of(a);
        GemmOperand right = GemmOperand.of(b);
        checkDepth("gemm", a.shape(), a.axis(), left, b.shape(), b.axis(), right);
        float[] biasValues = bias == null ? null : biasArray(bias, right.free);
        int m = left.free;
        int n = right.free;
        OneDnnGemm oneDnn = matrixUnit.gemm() != null && OneDnnGemm.accepts(a, b) ? matrixUnit.gemm() : null;
        if (out == DType.BF16 && oneDnn != null) {
            short[] c = pool.shorts(m * n);
            if (oneDnn.multiplyToBf16(a, b, biasValues, c)) {
                return Tensor.ofReusableBf16(c, m, n);
            }
            pool.put(c);
        }
        float[] c = pool.floats(m * n);
        // a BF16 result gets here from oneDNN only when a folded scale was inexact: the Vector API's turn either way
        if (out == DType.BF16 || oneDnn == null || !oneDnn.multiply(a, b, biasValues, c)) {
            GemmEngine.multiply(left, right, biasValues, threads, c);
        }
        return result(c, m, n, out);
    }

    /**
     * c (an m x n F32 result from the pool) as a tensor of dtype out: itself, or rounded once to BF16 by the threads
     * into another pooled array, c going back to the pool.
     */
    private Tensor result(float[] c, int m, int n, DType out) {
        if (out == DType.F32) {
            return Tensor.ofReusable(c, m, n);
        }
        short[] rounded = pool.shorts(m * n);
        Bf16Rounding.round(c, rounded, threads, ROUNDING_ROWS * n);
        pool.put(c);
        return Tensor.ofReusableBf16(rounded, m, n);
    }

    @Override
    public Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis) {
        return matmul(a, aAxis, b, bAxis, null, DType.F32);
    }

    @Override
    public Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis, DType out) {
        return matmul(a, aAxis, b, bAxis, null, out);
    }

    @Override
    public Tensor gemm(Float8Tensor a, Float8Tensor b, DType out) {
        return fp8Gemm(a, b, null, out);
    }

    /** See {@link #fp8Gemm}. */
    @Override
    public Tensor gemm(Float8Tensor a, Float8Tensor b, Tensor bias, DType out) {
        return fp8Gemm(a, b, bias, out);
    }

    /** The high-precision gemm with the bias (or null) added in its output write, into a pooled array. */
    @Override
    public Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis, Tensor bias, DType out) {
        GemmOperand left = GemmOperand.of(a, aAxis);
        GemmOperand right = GemmOperand.of(b, bAxis);
        checkDepth("matmul", a.shape(), aAxis, left, b.shape(), bAxis, right);
        float[] c = pool.floats(left.free * right.free);
        GemmEngine.multiply(left, right, bias == null ? null : biasArray(bias, right.free), threads, c);
        return result(c, left.free, right.free, out);
    }

    private float[] biasArray(Tensor bias, int columns) {
        Backend.checkBias(toHost(bias), columns);
        return bias.data();
    }

    private static void checkDepth(String op, int[] aShape, int aAxis, GemmOperand a, int[] bShape, int bAxis,
            GemmOperand b) {
        if (a.depth != b.depth) {
            throw new IllegalArgumentException(op + ": A " + Arrays.toString(aShape) + " along axis " + aAxis
                    + " sums over " + a.depth + " elements, B " + Arrays.toString(bShape) + " along axis " + bAxis
                    + " over " + b.depth);
        }
    }
}
