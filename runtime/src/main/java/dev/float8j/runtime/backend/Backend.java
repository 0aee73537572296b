package dev.float8j.runtime.backend;

import dev.float8j.plan.DelayedScaling;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.ops.ModelOps;
import dev.float8j.runtime.ops.ReferenceModelOps;
import dev.float8j.runtime.quant.AmaxHistory;
import dev.float8j.runtime.quant.HostAmaxHistory;
import dev.float8j.runtime.quant.Scales;
import java.util.List;

/**
 * The operations a linear layer's forward and backward passes need, for one kind of hardware.
 *
 * <p>Gemms follow one convention: each operand names the axis it is contracted along, and
 * {@code C[i][j] = sum_k A(i, k) * B(j, k)}, where {@code A(i, k)} is element (i, k) of A if A's axis is 1
 * and element (k, i) if it is 0. So for x [M,K], W [N,K] and dY [M,N]:
 * <ul>
 *   <li>output: y = x·Wᵀ is {@code gemm(x along 1, W along 1)}, [M,N];</li>
 *   <li>grad_input: dX = dY·W is {@code gemm(dY along 1, W along 0)}, [M,K];</li>
 *   <li>grad_weight: dW = dYᵀ·x is {@code gemm(dY along 0, x along 0)}, [N,K].</li>
 * </ul>
 * A quantized operand's axis is the one its scales run along, so no operand is ever transposed in memory.
 */
public interface Backend {

    /** A short name for logs and reports, e.g. "cpu". */
    String name();

    /**
     * Quantizes x (viewed as rows x cols) to FP8 as spec says.
     *
     * @throws dev.float8j.runtime.quant.NonFiniteException if x holds NaN or Inf
     */
    Float8Tensor quantize(Tensor x, QuantSpec spec);

    /** Quantizes x along both axes in one pass: element 0 along axis 1, element 1 along axis 0. */
    default Float8Tensor[] quantizeBothAxes(Tensor x, QuantSpec alongColumns, QuantSpec alongRows) {
        return new Float8Tensor[] {quantize(x, alongColumns.withAxis(1)), quantize(x, alongRows.withAxis(0))};
    }

    /**
     * Whether an FP8 copy that transposes exactly (tensorwise, 128x128 blocks) and is needed along both axes is
     * better cast along both in one pass than cast along one and transposed where the other is used: true where a
     * transpose is a pass over memory of its own (the GPU, whose FP8 gemm reads both operands K-contiguous). Either
     * way gives the same codes and scales.
     */
    default boolean prefersBothAxesCasts() {
        return false;
    }

    /**
     * Quantizes x (viewed as rows x cols) with one given scale under a tensorwise spec, in one pass that also finds
     * x's amax: q = saturate(round(x · scale)), so a value beyond fmax / scale becomes ±fmax. Delayed scaling casts
     * this way, its scale taken from earlier amaxes (the spec's {@code delayed()} is not read here). This default
     * runs on host tensors; a backend with its own memory overrides it.
     *
     * @throws IllegalArgumentException if spec is not tensorwise or scale is not positive and finite
     * @throws dev.float8j.runtime.quant.NonFiniteException if x holds NaN or Inf
     */
    default ScaledCast quantizeWithScale(Tensor x, QuantSpec spec, float scale) {
        checkGivenScale(spec, scale);
        return HostScaledCast.quantize(toHost(x), spec, scale);
    }

    /**
     * {@link #quantizeWithScale} under each of specs with the scale of the same index, reading x once where the backend
     * can (a delayed cast along both axes); each result carries x's amax. This default casts spec by spec; if a later
     * cast fails, the earlier ones are released.
     */
    default ScaledCast[] quantizeWithScales(Tensor x, List<QuantSpec> specs, float[] scales) {
        ScaledCast[] out = new ScaledCast[specs.size()];
        try {
            for (int i = 0; i < out.length; i++) {
                out[i] = quantizeWithScale(x, specs.get(i), scales[i]);
            }
            return out;
        } catch (RuntimeException e) {
            for (ScaledCast cast : out) {
                if (cast != null) {
                    release(cast.quantized());
                }
            }
            throw e;
        }
    }

    /** The checks of {@link #quantizeWithScale}'s spec and scale, for the backends that override it. */
    static void checkGivenScale(QuantSpec spec, float scale) {
        if (spec.granularity() != ScalingGranularity.TENSORWISE) {
            throw new IllegalArgumentException("a cast with a given scale is tensorwise (one scale), the spec says "
                    + spec.granularity());
        }
        if (!(scale > 0f && scale <= Float.MAX_VALUE)) {
            throw new IllegalArgumentException("a scale is positive and finite, got " + scale);
        }
    }

    /**
     * A new, empty amax history for one operand under scaling, kept where this backend's delayed casts read it: host
     * memory here, the GPU's on the CUDA backend.
     */
    default AmaxHistory newAmaxHistory(DelayedScaling scaling) {
        return new HostAmaxHistory(scaling);
    }

    /** Whether this backend's delayed casts can read history (one of its own kind, made for this backend). */
    default boolean canUse(AmaxHistory history) {
        return history instanceof HostAmaxHistory;
    }

    /**
     * x quantized under a tensorwise spec with delayed scaling, with the scale history gives, reading x once: the
     * first cast (an empty history) scales from x's own amax, as current scaling does. The amax this cast reads is
     * left pending in history, which records it at {@link AmaxHistory#commit}. This default casts on the host
     * through {@link #quantizeWithScale}.
     *
     * @throws IllegalArgumentException if history is not one this backend can use ({@link #canUse})
     * @throws dev.float8j.runtime.quant.NonFiniteException if x holds NaN or Inf
     */
    default Float8Tensor quantizeDelayed(Tensor x, QuantSpec spec, AmaxHistory history) {
        return hostDelayedCasts(x, List.of(spec), HostAmaxHistory.of(history))[0];
    }

    /**
     * x quantized along both axes (element 0 along axis 1 under alongColumns, element 1 along axis 0 under alongRows),
     * both tensorwise with delayed scaling, from one history and reading x once: a tensorwise scale does not depend on
     * the axis, so the amax history of one tensor serves both copies. As {@link #quantizeDelayed} otherwise.
     */
    default Float8Tensor[] quantizeBothAxesDelayed(Tensor x, QuantSpec alongColumns, QuantSpec alongRows,
            AmaxHistory history) {
        return hostDelayedCasts(x, List.of(alongColumns.withAxis(1), alongRows.withAxis(0)), HostAmaxHistory.of(history));
    }

    /** The host's delayed casts of x under each spec, one scale per spec from history (or x's own amax), one amax. */
    private Float8Tensor[] hostDelayedCasts(Tensor x, List<QuantSpec> specs, HostAmaxHistory history) {
        float ownAmax = 0f;
        if (history.isEmpty()) {
            ScaledCast probe = quantizeWithScale(x, specs.get(0), 1f);
            release(probe.quantized());
            ownAmax = probe.amax();
        }
        float[] scales = new float[specs.size()];
        for (int i = 0; i < scales.length; i++) {
            QuantSpec spec = specs.get(i);
            scales[i] = history.isEmpty() ? Scales.scale(ownAmax, spec.format(), spec.powerOfTwoScales())
                    : history.scale(spec);
        }
        ScaledCast[] casts = quantizeWithScales(x, specs, scales);
        Float8Tensor[] out = new Float8Tensor[casts.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = casts[i].quantized();
        }
        history.setPending(casts[0].amax());
        return out;
    }

    /** The F32 tensor that q stands for: decode(code) / scale, element by element. */
    Tensor dequantize(Float8Tensor q);

    /**
     * Quantizes an FP8 tensor again under another spec (usually the other axis), from its dequantized
     * values. Transposeable granularities need no requantization: see {@link Float8Tensor#alongOtherAxis()}.
     */
    Float8Tensor requantize(Float8Tensor q, QuantSpec spec);

    /** The scaled FP8 gemm {@code C = A·Bᵀ} under the axis convention above, accumulated and returned in F32. */
    Tensor gemm(Float8Tensor a, Float8Tensor b);

    /**
     * {@link #gemm(Float8Tensor, Float8Tensor)} with the result in dtype out: accumulated in F32, then rounded to
     * BF16 (nearest even) when out is BF16. A layer asks for its input's dtype, so BF16 activations stay BF16.
     */
    default Tensor gemm(Float8Tensor a, Float8Tensor b, DType out) {
        return rounded(gemm(a, b), out);
    }

    /**
     * {@link #gemm(Float8Tensor, Float8Tensor, DType)} plus a bias: {@code C[i][j] = sum + bias[j]}, the F32 bias
     * ([1, B's free length]) added to the F32 accumulator before the one rounding to out. bias null gives the plain
     * gemm. This default adds it after an F32 gemm; backends override it to add it in the gemm's output write.
     */
    default Tensor gemm(Float8Tensor a, Float8Tensor b, Tensor bias, DType out) {
        if (bias == null) {
            return gemm(a, b, out);
        }
        Tensor c = gemm(a, b);
        addBias(c, bias);
        return rounded(c, out);
    }

    /**
     * {@link #gemm(Float8Tensor, Float8Tensor, Tensor, DType)} plus an addend: {@code C[i][j] = sum + bias[j] +
     * addend[i][j]}, in F32 before the one rounding to out. addend has the result's shape ([A's free length, B's free
     * length], viewed as rows x cols) and dtype out, and stays the caller's; null gives the gemm without it. A residual
     * connection ({@code y = x + x'·Wᵀ}) and the gradient of an input several layers read ({@code dX = dX₁ + dY₂·W₂})
     * come out of the gemm that makes them this way, with no add of their own. This default adds it after an F32
     * gemm; a backend whose gemm reads an addend (CUDA: cuBLASLt's C) overrides it.
     */
    default Tensor gemm(Float8Tensor a, Float8Tensor b, Tensor bias, DType out, Tensor addend) {
        if (addend == null) {
            return gemm(a, b, bias, out);
        }
        Tensor c = gemm(a, b, bias, DType.F32);
        addAddend(c, addend, out);
        return rounded(c, out);
    }

    /**
     * {@link #gemm(Float8Tensor, Float8Tensor, Tensor, DType, Tensor)} that may accumulate in the tensor cores' reduced
     * precision when fastAccumulation is true (a plan's {@code GemmPlan.fastAccumulation}, torchao's
     * {@code use_fast_accum}). A hint: this default, and every backend that sums in F32, ignores it.
     */
    default Tensor gemm(Float8Tensor a, Float8Tensor b, Tensor bias, DType out, Tensor addend, boolean fastAccumulation) {
        return gemm(a, b, bias, out, addend);
    }

    /** The F32 result c in dtype out; c itself for F32, else a rounded copy, and c is released. */
    private Tensor rounded(Tensor c, DType out) {
        if (out == DType.F32) {
            return c;
        }
        Tensor r = c.to(out);
        release(c);
        return r;
    }

    /** The high-precision gemm under the same convention: F32 or BF16 inputs, F32 accumulation and result. */
    Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis);

    /** {@link #matmul(Tensor, int, Tensor, int)} with the result in dtype out, accumulated in F32 as there. */
    default Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis, DType out) {
        return rounded(matmul(a, aAxis, b, bAxis), out);
    }

    /**
     * t as this backend's high-precision gemm reads it beside an operand of dtype other: t itself, or a converted
     * copy (the caller's to release) when the gemm would convert t on every call. A layer whose F32 weight meets
     * BF16 activations makes this once per optimizer step and passes it instead. Host backends compute with t as it
     * is; the CUDA backend rounds an F32 t to BF16 beside BF16, as its matmul does.
     */
    default Tensor matmulOperand(Tensor t, DType other) {
        return t;
    }

    /**
     * {@link #matmul(Tensor, int, Tensor, int, DType)} plus a bias, as
     * {@link #gemm(Float8Tensor, Float8Tensor, Tensor, DType)} adds it: in F32, before the one rounding to out.
     */
    default Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis, Tensor bias, DType out) {
        if (bias == null) {
            return matmul(a, aAxis, b, bAxis, out);
        }
        Tensor c = matmul(a, aAxis, b, bAxis);
        addBias(c, bias);
        return rounded(c, out);
    }

    /**
     * {@link #matmul(Tensor, int, Tensor, int, Tensor, DType)} plus an addend, as
     * {@link #gemm(Float8Tensor, Float8Tensor, Tensor, DType, Tensor)} adds it: in F32, before the one rounding to out.
     */
    default Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis, Tensor bias, DType out, Tensor addend) {
        if (addend == null) {
            return matmul(a, aAxis, b, bAxis, bias, out);
        }
        Tensor c = matmul(a, aAxis, b, bAxis, bias, DType.F32);
        addAddend(c, addend, out);
        return rounded(c, out);
    }

    /** c += addend for a host F32 c, after {@link #checkAddend}. */
    private void addAddend(Tensor c, Tensor addend, DType out) {
        checkAddend(addend, c.rows(), c.cols(), out);
        Tensor a = toHost(addend);
        float[] values = c.data();
        float[] add = a.dtype() == DType.F32 ? a.data() : a.toFloatArray();
        for (int i = 0; i < values.length; i++) {
            values[i] += add[i];
        }
    }

    /**
     * Fails unless addend, viewed as rows x cols, has the shape and the dtype of the gemm's result: what a gemm adds
     * to its result must be its result's shape, never broadcast.
     */
    static void checkAddend(Tensor addend, int rows, int cols, DType out) {
        if (addend.dtype() != out || addend.rows() != rows || addend.cols() != cols) {
            throw new IllegalArgumentException("the addend of a gemm whose result is " + rows + "x" + cols + " " + out
                    + " must have that shape and dtype, got " + addend);
        }
    }

    /**
     * The sums of g's columns (g viewed as rows x cols, F32 or BF16), accumulated in F32 from the first row to the
     * last: an F32 [1, cols] tensor where g lives. A bias's gradient is the column sums of dY.
     */
    default Tensor columnSums(Tensor g) {
        toHost(g); // refuses device tensors
        int rows = g.rows();
        int cols = g.cols();
        float[] sums = new float[cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                sums[c] += g.get(r, c);
            }
        }
        return Tensor.of(sums, 1, cols);
    }

    /** c[i][j] += bias[j] for a host F32 c; fails unless bias is F32 with one element per column of c. */
    static void addBias(Tensor c, Tensor bias) {
        checkBias(bias, c.cols());
        float[] out = c.data();
        int cols = c.cols();
        for (int i = 0; i < c.rows(); i++) {
            for (int j = 0; j < cols; j++) {
                out[i * cols + j] += bias.getFlat(j);
            }
        }
    }

    /** Fails unless bias is an F32 tensor of n elements (a [1, n] row), the bias of a gemm with n output columns. */
    static void checkBias(Tensor bias, int n) {
        if (bias.dtype() != DType.F32 || bias.size() != n) {
            throw new IllegalArgumentException("the bias of a gemm with " + n + " output columns must be an F32 tensor"
                    + " of " + n + " elements, got " + bias);
        }
    }

    /**
     * t where this backend computes. A backend with its own memory (CUDA) copies host tensors there; host
     * backends return t. Results of a backend's operations stay where its operands were.
     */
    default Tensor toDevice(Tensor t) {
        return toHost(t);
    }

    /**
     * A copy of t where t lives, with its own memory: what a layer saves for backward, so that a caller may
     * overwrite t meanwhile.
     */
    default Tensor copy(Tensor t) {
        if (t.isOnDevice()) {
            throw new IllegalArgumentException(t + ": the " + name() + " backend cannot read device memory");
        }
        return t.copy();
    }

    /** t on the host: t itself when it is there already. */
    default Tensor toHost(Tensor t) {
        if (t.isOnDevice()) {
            throw new IllegalArgumentException(t + ": the " + name() + " backend cannot read device memory");
        }
        return t;
    }

    /**
     * Overwrites into, where it lives, with the values of host tensor source (same dtype and element count): how a
     * checkpoint restores weights and optimizer state in place, so that every holder of into sees them.
     */
    default void copyFromHost(Tensor into, Tensor source) {
        checkCopyFromHost(into, source);
        if (into.isOnDevice()) {
            throw new IllegalArgumentException(into + ": the " + name() + " backend cannot write device memory");
        }
        if (into.dtype() == DType.F32) {
            System.arraycopy(source.data(), 0, into.data(), 0, into.size());
        } else {
            System.arraycopy(source.bf16Data(), 0, into.bf16Data(), 0, into.size());
        }
    }

    /**
     * Copies count elements of from, starting at flat index fromIndex, into into at flat index intoIndex; both are
     * F32 tensors where this backend computes (queued on the device's stream for a device backend). How sharded
     * training moves a parameter's rows between its shard and the full tensor without a host round trip.
     */
    default void copyElements(Tensor from, int fromIndex, Tensor into, int intoIndex, int count) {
        checkCopyElements(from, fromIndex, into, intoIndex, count);
        if (from.isOnDevice() || into.isOnDevice()) {
            throw new IllegalArgumentException("the " + name() + " backend cannot copy between " + from + " and " + into
                    + ": one lives on a device");
        }
        System.arraycopy(from.data(), fromIndex, into.data(), intoIndex, count);
    }

    /** Fails unless both are F32 and the ranges lie inside them. */
    static void checkCopyElements(Tensor from, int fromIndex, Tensor into, int intoIndex, int count) {
        if (from.dtype() != DType.F32 || into.dtype() != DType.F32 || count < 0 || fromIndex < 0 || intoIndex < 0
                || (long) fromIndex + count > from.size() || (long) intoIndex + count > into.size()) {
            throw new IllegalArgumentException("cannot copy " + count + " elements from " + from + " at " + fromIndex
                    + " into " + into + " at " + intoIndex + ": needs F32 tensors and ranges inside them");
        }
    }

    /** A zeroed F32 tensor of shape where this backend computes. */
    default Tensor zeros(int... shape) {
        return toDevice(Tensor.zeros(DType.F32, shape));
    }

    /** Fails unless source is a host tensor with into's dtype and element count. */
    static void checkCopyFromHost(Tensor into, Tensor source) {
        if (source.isOnDevice() || source.dtype() != into.dtype() || source.size() != into.size()) {
            throw new IllegalArgumentException("cannot copy " + source + " into " + into
                    + ": needs a host tensor of the same dtype and element count");
        }
    }

    /** q on the host: q itself when it is there already. */
    default Float8Tensor toHost(Float8Tensor q) {
        if (q.isOnDevice()) {
            throw new IllegalArgumentException(q + ": the " + name() + " backend cannot read device memory");
        }
        return q;
    }

    /** into += g, element by element (into is F32, g F32 or BF16 with as many elements), where into lives. */
    default void accumulate(Tensor into, Tensor g) {
        float[] acc = into.data();
        if (g.size() != acc.length) {
            throw new IllegalArgumentException("cannot add " + g + " into " + into + ": element counts differ");
        }
        for (int i = 0; i < acc.length; i++) {
            acc[i] += g.getFlat(i);
        }
    }

    /**
     * into += gemm(a, b), where into lives (F32, [a's free length, b's free length]). A gradient accumulates
     * this way; a backend whose gemm can add into its output (CUDA) skips the temporary result.
     */
    default void gemmAccumulate(Tensor into, Float8Tensor a, Float8Tensor b) {
        Tensor product = gemm(a, b);
        accumulate(into, product);
        release(product);
    }

    /**
     * into = gemm(a, b), overwriting into where it lives (F32, [a's free length, b's free length]): the first product
     * a gradient receives after it was zeroed, so the zeros need not be written first. This default zeroes into and
     * accumulates; a backend whose gemm writes into its output (CUDA) overrides it.
     */
    default void gemmInto(Tensor into, Float8Tensor a, Float8Tensor b) {
        zero(into);
        gemmAccumulate(into, a, b);
    }

    /** into = matmul(a, aAxis, b, bAxis), overwriting into, as {@link #gemmInto} does for the FP8 gemm. */
    default void matmulInto(Tensor into, Tensor a, int aAxis, Tensor b, int bAxis) {
        zero(into);
        matmulAccumulate(into, a, aAxis, b, bAxis);
    }

    /**
     * into += matmul(a, aAxis, b, bAxis), where into lives (F32, [a's free length, b's free length]): a
     * high-precision weight gradient accumulates this way. A backend whose gemm can add into its output (CUDA) skips
     * the temporary product.
     */
    default void matmulAccumulate(Tensor into, Tensor a, int aAxis, Tensor b, int bAxis) {
        Tensor product = matmul(a, aAxis, b, bAxis);
        accumulate(into, product);
        release(product);
    }

    /**
     * The caller is done with q: a backend may reuse its memory for a later result, and every later use of q
     * (its codes, scales or views made from it) throws {@link IllegalStateException}. So do arrays obtained from
     * {@code q.codes()} or {@code q.scalesForBackend()}: they must not be used afterwards. A view that shares q's memory
     * ({@link Float8Tensor#alongOtherAxis()}) stays valid: the memory is reused only once every view of it is
     * released. Releasing q twice throws. This default only marks q released.
     */
    default void release(Float8Tensor q) {
        q.markReleased();
    }

    /**
     * The caller is done with t, as {@link #release(Float8Tensor)} says for quantized tensors: later uses of t and
     * of arrays obtained from {@code t.data()} are errors, reshapes of t stay valid until released themselves.
     */
    default void release(Tensor t) {
        t.markReleased();
    }

    /**
     * Opens a {@link MemoryScope}: device tensors this backend makes until it closes are freed then. A device
     * backend that left them to the garbage collector would fill its memory within a few training steps and then
     * stall on collections (the CUDA backend does this until a scope is open). Scopes nest and close innermost
     * first. This default, for host backends, does nothing.
     */
    default MemoryScope openScope() {
        return () -> { };
    }

    /** Sets every element of t to zero, where t lives. */
    default void zero(Tensor t) {
        if (t.dtype() == DType.F32) {
            java.util.Arrays.fill(t.data(), 0f);
        } else {
            java.util.Arrays.fill(t.bf16Data(), (short) 0);
        }
    }

    /**
     * The transformer's non-gemm operations on this backend's tensors: {@link ReferenceModelOps} on the host; a
     * backend with its own memory overrides this with ops that run there.
     */
    default ModelOps ops() {
        return ReferenceModelOps.INSTANCE;
    }

    /**
     * The ops this backend runs on host tensors (a model kept on the host while this backend computes):
     * {@link ReferenceModelOps} unless the backend has faster host ops of its own.
     */
    default ModelOps hostOps() {
        return ReferenceModelOps.INSTANCE;
    }
}
