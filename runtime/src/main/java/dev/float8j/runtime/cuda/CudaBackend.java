package dev.float8j.runtime.cuda;

import static dev.float8j.runtime.cuda.OpLaunches.dt;

import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.DType;
import dev.float8j.plan.Fp8Format;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.ops.ModelOps;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.quant.NonFiniteException;
import dev.float8j.runtime.quant.AmaxHistory;
import dev.float8j.plan.DelayedScaling;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;
import java.util.Arrays;
import java.util.function.BiFunction;

/**
 * The CUDA backend: FP8 gemms through cuBLASLt and kernels compiled by NVRTC, reached through the FFM API.
 *
 * <p>Two APIs. The {@link Backend} methods take and return host tensors (upload, compute, download), so the
 * training stack runs unchanged; tensors already on the device stay there. The device API
 * ({@link #quantize(DeviceTensor, QuantSpec)}, {@link #gemm(DeviceFloat8, DeviceFloat8, DType, boolean)}, ...)
 * keeps tensors on the GPU, for speed. Quantized device tensors are K-contiguous (see {@link DeviceFloat8}); a
 * quantization along axis 0 writes the transposed layout directly. All work is queued on one stream; calls are
 * not thread-safe.
 *
 * <p>This class is the entry point; the work is done by one room per concern: {@link DeviceMemory} (transfers
 * and residency), {@link CudaCasts} (quantization), {@link CudaGemms} (cuBLASLt), {@link CudaModelOps} (the
 * transformer's other ops, one kernel file per op family) and {@link CudaAttention}, which it calls.
 */
public final class CudaBackend implements Backend {
    private final CudaContext cuda;
    private final DeviceMemory memory;
    private final ProducerMaxima maxima;
    private final CudaCasts casts;
    private final CudaGemms gemms;
    private CudaModelOps ops;

    private CudaBackend(CudaContext cuda) {
        this.cuda = cuda;
        this.memory = new DeviceMemory(cuda);
        this.maxima = new ProducerMaxima(memory);
        this.casts = new CudaCasts(cuda, memory, maxima);
        this.gemms = new CudaGemms(cuda, memory, casts);
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
     * Starts timing every kernel and cuBLASLt matmul queued from now on (see {@link KernelTimes}); read the result
     * with {@link #stopKernelTimes()}. Not for timed runs: each launch records two events.
     *
     * @throws IllegalStateException if kernel times are already on
     */
    public void startKernelTimes() {
        if (cuda.driver.kernelTimes != null) {
            throw new IllegalStateException("kernel times are already on; call stopKernelTimes() first");
        }
        cuda.driver.kernelTimes = new KernelTimes(cuda.driver, cuda.stream);
    }

    /**
     * Stops timing kernels and returns the times of those queued since {@link #startKernelTimes()} (it waits for
     * them to finish).
     *
     * @throws IllegalStateException if kernel times are not on
     */
    public KernelTimes stopKernelTimes() {
        KernelTimes times = cuda.driver.kernelTimes;
        if (times == null) {
            throw new IllegalStateException("kernel times are not on; call startKernelTimes() first");
        }
        cuda.driver.kernelTimes = null;
        times.entries();
        times.destroy();
        return times;
    }

    /** The transformer's non-gemm ops on this GPU, one kernel per op (made on first use). */
    @Override
    public ModelOps ops() {
        if (ops == null) {
            ops = new CudaModelOps(cuda, memory, maxima, casts);
        }
        return ops;
    }

    // ---------------------------------------------------------------- device API: memory

    public DeviceTensor allocate(int rows, int cols, DType dtype) {
        return memory.allocate(rows, cols, dtype);
    }

    /** Copies a host tensor (viewed as rows x cols) to the GPU, keeping its dtype. */
    public DeviceTensor upload(Tensor x) {
        return memory.upload(x);
    }

    /** Copies a device tensor back as a rows x cols host tensor. */
    public Tensor download(DeviceTensor d) {
        return memory.download(d);
    }

    /** Opens a scope that frees every device tensor made until it closes; scopes nest (see {@link DeviceScope}). */
    @Override
    public DeviceScope openScope() {
        return memory.openScope();
    }

    // ---------------------------------------------------------------- device API: quantization

    /** Quantizes x along spec's axis into the K-contiguous layout the gemm reads. */
    public DeviceFloat8 quantize(DeviceTensor x, QuantSpec spec) {
        return casts.quantize(x, spec);
    }

    /**
     * Quantizes x along both axes reading it once (twice for tensorwise and rowwise, whose scales need the
     * whole row or column first). Element 0 is along axis 1, element 1 along axis 0; the granularities must match.
     */
    public DeviceFloat8[] quantizeBothAxes(DeviceTensor x, QuantSpec alongColumns, QuantSpec alongRows) {
        return casts.quantizeBothAxes(x, alongColumns, alongRows);
    }

    /** Quantizes q again under spec, from its dequantized values (REQUANTIZE's backward copy). */
    public DeviceFloat8 requantize(DeviceFloat8 q, QuantSpec spec) {
        return casts.requantize(q, spec);
    }

    /**
     * The other axis's copy of a transposeable (tensorwise or 128x128-block) tensor: the codes transposed, the
     * same scales. This is exact, where {@link #requantize} would round again.
     */
    public DeviceFloat8 transpose(DeviceFloat8 q) {
        return casts.transpose(q);
    }

    /** decode(code) / scale for every element, as a row-major rows x cols F32 or BF16 device tensor. */
    public DeviceTensor dequantize(DeviceFloat8 q, DType out) {
        return casts.dequantize(q, out);
    }

    /** x in another dtype (F32 to BF16 rounds to nearest even). */
    public DeviceTensor convert(DeviceTensor x, DType to) {
        return casts.convert(x, to);
    }

    Float8Tensor downloadFloat8(DeviceFloat8 q, DType originalDType, int[] shape) {
        return casts.downloadFloat8(q, originalDType, shape);
    }

    // ---------------------------------------------------------------- device API: gemms

    /**
     * The scaled FP8 gemm C = A·Bᵀ under the axis convention, on the GPU: [A's free length] x [B's free length].
     * Free and summed lengths must be multiples of 16 here (the host API pads). fastAccum lets cuBLASLt
     * accumulate in the tensor cores' reduced precision (tensorwise and rowwise only).
     */
    public DeviceTensor gemm(DeviceFloat8 a, DeviceFloat8 b, DType out, boolean fastAccum) {
        return gemms.gemm(a, b, out, fastAccum);
    }

    /**
     * {@link #gemm(DeviceFloat8, DeviceFloat8, DType, boolean)} plus bias (F32, one element per column of the
     * result; null for none), added to the F32 accumulator before the result is written in out: by cuBLASLt's BIAS
     * epilogue, or where that takes no F32 bias by the epilogue_add kernel after an F32 gemm.
     */
    public DeviceTensor gemm(DeviceFloat8 a, DeviceFloat8 b, DeviceTensor bias, DType out, boolean fastAccum) {
        return gemms.gemm(a, b, bias, out, fastAccum);
    }

    /** d += A·Bᵀ under the axis convention, on the GPU, accumulated by cuBLASLt itself (beta = 1); d is F32. */
    public void gemmAccumulate(DeviceTensor d, DeviceFloat8 a, DeviceFloat8 b) {
        gemms.gemmAccumulate(d, a, b, false);
    }

    /** The high-precision gemm under the axis convention on the GPU; a and b share a dtype (F32 or BF16). */
    public DeviceTensor matmul(DeviceTensor a, int aAxis, DeviceTensor b, int bAxis, DType out) {
        return gemms.matmul(a, aAxis, b, bAxis, out);
    }

    /**
     * The high-precision gemm plus bias (F32, one element per column of the result; null for none), added in F32
     * before the result is written in out, as {@link #gemm(DeviceFloat8, DeviceFloat8, DeviceTensor, DType, boolean)}
     * adds it.
     */
    public DeviceTensor matmul(DeviceTensor a, int aAxis, DeviceTensor b, int bAxis, DeviceTensor bias, DType out) {
        return gemms.matmul(a, aAxis, b, bAxis, bias, out);
    }

    /**
     * The F32 column sums of g (rows x cols, F32 or BF16), summed from the first row to the last as on the host:
     * a [1, cols] F32 device tensor. A bias's gradient is the column sums of dY.
     */
    public DeviceTensor columnSums(DeviceTensor g) {
        return gemms.columnSums(g);
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

    /**
     * Not on this backend: a cast given a host scale would hand its amax back to the host, a wait for the GPU at every
     * cast. Delayed scaling casts through {@link #quantizeDelayed}, whose history stays on the GPU.
     */
    @Override
    public dev.float8j.runtime.backend.ScaledCast quantizeWithScale(Tensor x, QuantSpec spec, float scale) {
        throw new UnsupportedOperationException("the cuda backend casts with a scale from an amax history kept on the"
                + " GPU (quantizeDelayed with newAmaxHistory), not with a scale given by the host");
    }

    /** A history on this GPU: its casts read the scale there, and the host reads nothing (DeviceAmaxHistory). */
    @Override
    public AmaxHistory newAmaxHistory(DelayedScaling scaling) {
        return new DeviceAmaxHistory(cuda, memory, scaling);
    }

    @Override
    public boolean canUse(AmaxHistory history) {
        return history instanceof DeviceAmaxHistory h && h.madeFor(cuda);
    }

    /**
     * On the GPU, one pass over x: a kernel reduces the history into the word the cast's scale comes from, and the cast
     * reports x's amax into the history's pending word (the first cast scales from x's own amax: its producer's
     * report, or an amax pass). A host x is uploaded for the cast, and the result downloaded.
     */
    @Override
    public Float8Tensor quantizeDelayed(Tensor x, QuantSpec spec, AmaxHistory history) {
        Float8Tensor[] both = delayedCasts(x, spec.axis() == 1 ? spec : null, spec.axis() == 0 ? spec : null, history);
        return both[spec.axis() == 1 ? 0 : 1];
    }

    /** On the GPU as {@link #quantizeDelayed}: one pass writes both copies and reports the amax. */
    @Override
    public Float8Tensor[] quantizeBothAxesDelayed(Tensor x, QuantSpec alongColumns, QuantSpec alongRows,
            AmaxHistory history) {
        return delayedCasts(x, alongColumns, alongRows, history);
    }

    /** The delayed casts of x along 1 and/or 0 (null: not wanted), as host or device tensors as x is. */
    private Float8Tensor[] delayedCasts(Tensor x, QuantSpec alongColumns, QuantSpec alongRows, AmaxHistory history) {
        if (!canUse(history)) {
            throw new IllegalArgumentException("the cuda backend's delayed cast needs an amax history it made on this"
                    + " GPU (newAmaxHistory), got " + history);
        }
        DeviceAmaxHistory h = (DeviceAmaxHistory) history;
        if (x.isOnDevice()) {
            try {
                DeviceFloat8[] q = delayedCasts(DeviceMemory.deviceView(x), alongColumns, alongRows, h,
                        ProducerMaxima.knownAmax(x));
                return new Float8Tensor[] {q[0] == null ? null : memory.resident(q[0], x.dtype(), x.shape()),
                        q[1] == null ? null : memory.resident(q[1], x.dtype(), x.shape())};
            } finally {
                Reference.reachabilityFence(x);
            }
        }
        checkFinite(x, alongColumns != null ? alongColumns : alongRows);
        try (DeviceTensor d = memory.upload(x)) {
            DeviceFloat8[] q = delayedCasts(d, alongColumns, alongRows, h, null);
            Float8Tensor[] out = new Float8Tensor[2];
            for (int i = 0; i < 2; i++) {
                if (q[i] != null) {
                    try (DeviceFloat8 copy = q[i]) {
                        out[i] = casts.downloadFloat8(copy, x.dtype(), x.shape());
                    }
                }
            }
            return out;
        }
    }

    private DeviceFloat8[] delayedCasts(DeviceTensor x, QuantSpec alongColumns, QuantSpec alongRows,
            DeviceAmaxHistory h, DeviceBuffer knownAmax) {
        DeviceBuffer scaleAmax = h.isEmpty() ? null : h.prepareScale(casts);
        return casts.quantizeDelayed(x, alongColumns, alongRows, scaleAmax, knownAmax, h.pendingWord());
    }

    @Override
    public Float8Tensor quantize(Tensor x, QuantSpec spec) {
        if (x.isOnDevice()) {
            try {
                return memory.resident(casts.quantize(DeviceMemory.deviceView(x), spec, ProducerMaxima.knownAmax(x),
                        ProducerMaxima.knownLines(x)), x.dtype(), x.shape());
            } finally {
                Reference.reachabilityFence(x);
            }
        }
        checkFinite(x, spec);
        try (DeviceTensor d = memory.upload(x); DeviceFloat8 q = quantize(d, spec)) {
            return casts.downloadFloat8(q, x.dtype(), x.shape());
        }
    }

    /** A transpose of FP8 codes is a kernel of its own; a both-axes cast writes the second copy as it reads x. */
    @Override
    public boolean prefersBothAxesCasts() {
        return true;
    }

    @Override
    public Float8Tensor[] quantizeBothAxes(Tensor x, QuantSpec alongColumns, QuantSpec alongRows) {
        if (alongColumns.granularity() != alongRows.granularity()) {
            return Backend.super.quantizeBothAxes(x, alongColumns, alongRows);
        }
        if (x.isOnDevice()) {
            try {
                DeviceFloat8[] both = casts.quantizeBothAxes(DeviceMemory.deviceView(x), alongColumns, alongRows,
                        ProducerMaxima.knownAmax(x), ProducerMaxima.knownLines(x));
                return new Float8Tensor[] {memory.resident(both[0], x.dtype(), x.shape()), memory.resident(both[1], x.dtype(), x.shape())};
            } finally {
                Reference.reachabilityFence(x);
            }
        }
        checkFinite(x, alongColumns);
        try (DeviceTensor d = memory.upload(x)) {
            DeviceFloat8[] both = quantizeBothAxes(d, alongColumns, alongRows);
            try (DeviceFloat8 q1 = both[0]; DeviceFloat8 q0 = both[1]) {
                return new Float8Tensor[] {casts.downloadFloat8(q1, x.dtype(), x.shape()), casts.downloadFloat8(q0, x.dtype(), x.shape())};
            }
        }
    }

    @Override
    public Tensor dequantize(Float8Tensor q) {
        if (q.isOnDevice()) {
            try {
                return memory.resident(dequantize(DeviceMemory.ours(q).fp8, DType.F32), q.shape());
            } finally {
                Reference.reachabilityFence(q);
            }
        }
        try (DeviceFloat8 d = casts.uploadFloat8(q); DeviceTensor out = dequantize(d, DType.F32)) {
            return Tensor.of(memory.download(out).data(), q.shape());
        }
    }

    @Override
    public Float8Tensor requantize(Float8Tensor q, QuantSpec spec) {
        if (q.isOnDevice()) {
            try {
                return memory.resident(requantize(DeviceMemory.ours(q).fp8, spec), q.originalDType(), q.shape());
            } finally {
                Reference.reachabilityFence(q);
            }
        }
        try (DeviceFloat8 d = casts.uploadFloat8(q); DeviceFloat8 r = requantize(d, spec)) {
            return casts.downloadFloat8(r, q.originalDType(), q.shape());
        }
    }

    @Override
    public Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis) {
        return matmul(a, aAxis, b, bAxis, DType.F32);
    }

    @Override
    public Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis, DType out) {
        return matmul(a, aAxis, b, bAxis, null, out);
    }

    /** The bias goes into cuBLASLt's epilogue, on the GPU, with host tensors uploaded for the call. */
    @Override
    public Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis, Tensor bias, DType out) {
        if (bias != null) {
            Backend.checkBias(bias, bAxis == 1 ? b.rows() : b.cols());
        }
        if (a.isOnDevice() || b.isOnDevice() || bias != null && bias.isOnDevice()) {
            return residentMatmul(a, aAxis, b, bAxis, bias, out, null);
        }
        if (a.dtype() != b.dtype()) {
            a = a.to(DType.F32);
            b = b.to(DType.F32);
        }
        try (DeviceTensor da = memory.upload(a); DeviceTensor db = memory.upload(b);
                DeviceTensor dBias = bias == null ? null : memory.upload(bias);
                DeviceTensor d = matmul(da, aAxis, db, bAxis, dBias, out)) {
            return memory.download(d);
        }
    }

    /** As {@link #gemm(Float8Tensor, Float8Tensor, Tensor, DType, Tensor)} adds it: cuBLASLt's C, on the GPU. */
    @Override
    public Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis, Tensor bias, DType out, Tensor addend) {
        if (addend == null) {
            return matmul(a, aAxis, b, bAxis, bias, out);
        }
        int n = bAxis == 1 ? b.rows() : b.cols();
        if (bias != null) {
            Backend.checkBias(bias, n);
        }
        Backend.checkAddend(addend, aAxis == 1 ? a.rows() : a.cols(), n, out);
        if (!a.isOnDevice() && !b.isOnDevice() && (bias == null || !bias.isOnDevice()) && !addend.isOnDevice()) {
            return Backend.super.matmul(a, aAxis, b, bAxis, bias, out, addend);
        }
        return residentMatmul(a, aAxis, b, bAxis, bias, out, addend);
    }

    /**
     * The matmul plus bias and addend (either null) on the GPU, host tensors uploaded for the call: a device result.
     * BF16 beside F32 runs in BF16 (see {@link #inMatmulDtype}).
     */
    private Tensor residentMatmul(Tensor a, int aAxis, Tensor b, int bAxis, Tensor bias, DType out, Tensor addend) {
        Tensor da = toDevice(a);
        Tensor db = toDevice(b);
        Tensor dBias = bias == null ? null : toDevice(bias);
        Tensor dAddend = addend == null ? null : toDevice(addend);
        try {
            DeviceTensor va = inMatmulDtype(DeviceMemory.deviceView(da), DeviceMemory.deviceView(db));
            DeviceTensor vb = inMatmulDtype(DeviceMemory.deviceView(db), DeviceMemory.deviceView(da));
            DeviceTensor d = gemms.matmul(va, aAxis, vb, bAxis, dBias == null ? null : DeviceMemory.deviceView(dBias), out,
                    dAddend == null ? null : DeviceMemory.deviceView(dAddend));
            closeIfCopy(va, da);
            closeIfCopy(vb, db);
            return memory.resident(d, d.rows(), d.cols());
        } finally {
            Reference.reachabilityFence(da);
            Reference.reachabilityFence(db);
            Reference.reachabilityFence(dBias);
            Reference.reachabilityFence(dAddend);
        }
    }

    /** Column sums on the GPU for a device tensor, on the host for a host one. */
    @Override
    public Tensor columnSums(Tensor g) {
        if (!g.isOnDevice()) {
            return Backend.super.columnSums(g);
        }
        try {
            DeviceTensor sums = columnSums(DeviceMemory.deviceView(g));
            return memory.resident(sums, 1, g.cols());
        } finally {
            Reference.reachabilityFence(g);
        }
    }

    /**
     * For a device gradient (F32, or BF16 where its parameter keeps it so), cuBLASLt adds the product into it
     * (beta = 1): no F32 temporary, no separate add. A BF16 operand times an F32 one runs in BF16 (see
     * {@link #inMatmulDtype}).
     */
    @Override
    public void matmulAccumulate(Tensor into, Tensor a, int aAxis, Tensor b, int bAxis) {
        if (!into.isOnDevice()) {
            Backend.super.matmulAccumulate(into, a, aAxis, b, bAxis);
            return;
        }
        matmulOnDevice(into, a, aAxis, b, bAxis, false);
    }

    /** For a device gradient, cuBLASLt writes the product over it (beta = 0): the zeros are never written. */
    @Override
    public void matmulInto(Tensor into, Tensor a, int aAxis, Tensor b, int bAxis) {
        if (!into.isOnDevice()) {
            Backend.super.matmulInto(into, a, aAxis, b, bAxis);
            return;
        }
        matmulOnDevice(into, a, aAxis, b, bAxis, true);
    }

    /** into += (or = when overwrite) the matmul, into an F32 or BF16 device tensor; BF16 beside F32 runs in BF16. */
    private void matmulOnDevice(Tensor into, Tensor a, int aAxis, Tensor b, int bAxis, boolean overwrite) {
        Tensor da = toDevice(a);
        Tensor db = toDevice(b);
        try {
            DeviceTensor va = inMatmulDtype(DeviceMemory.deviceView(da), DeviceMemory.deviceView(db));
            DeviceTensor vb = inMatmulDtype(DeviceMemory.deviceView(db), DeviceMemory.deviceView(da));
            gemms.matmulAccumulate(DeviceMemory.writableView(into), va, aAxis, vb, bAxis, overwrite);
            closeIfCopy(va, da);
            closeIfCopy(vb, db);
        } finally {
            Reference.reachabilityFence(into);
            Reference.reachabilityFence(da);
            Reference.reachabilityFence(db);
        }
    }

    @Override
    public void gemmAccumulate(Tensor into, Float8Tensor a, Float8Tensor b) {
        if (!into.isOnDevice() || needsDequantizedGemm(a, b)) {
            Backend.super.gemmAccumulate(into, a, b);
            return;
        }
        gemmOnDevice(into, a, b, false);
    }

    /** For a device gradient, cuBLASLt writes the product over it (beta = 0): the zeros are never written. */
    @Override
    public void gemmInto(Tensor into, Float8Tensor a, Float8Tensor b) {
        if (!into.isOnDevice() || needsDequantizedGemm(a, b)) {
            Backend.super.gemmInto(into, a, b);
            return;
        }
        gemmOnDevice(into, a, b, true);
    }

    /** into += (or = when overwrite) the FP8 gemm, into an F32 or BF16 device tensor. */
    private void gemmOnDevice(Tensor into, Float8Tensor a, Float8Tensor b, boolean overwrite) {
        try {
            onGemmOperands(a, b, (qa, qb) -> {
                gemms.gemmAccumulate(DeviceMemory.writableView(into), qa, qb, overwrite);
                return null;
            });
        } finally {
            Reference.reachabilityFence(into);
        }
    }

    @Override
    public Tensor toDevice(Tensor t) {
        return memory.toDevice(t);
    }

    @Override
    public Tensor copy(Tensor t) {
        if (!t.isOnDevice()) {
            return t.copy();
        }
        try {
            return memory.resident(convert(DeviceMemory.deviceView(t), t.dtype()), t.shape());
        } finally {
            Reference.reachabilityFence(t);
        }
    }

    @Override
    public Tensor toHost(Tensor t) {
        return memory.toHost(t);
    }

    /**
     * Marks t released and, when it was the last live view of its device memory, hands the memory back to the
     * caching allocator at once: a later kernel on the stream may reuse it (it runs after every kernel queued so
     * far), so a step's peak holds only what is still live instead of everything made since its scope opened.
     */
    @Override
    public void release(Tensor t) {
        DeviceMemory.release(t);
    }

    /** As {@link #release(Tensor)}: q's codes and scales go back once its last view is released. */
    @Override
    public void release(Float8Tensor q) {
        Resident r = q.isOnDevice() ? DeviceMemory.ours(q) : null;
        if (q.markReleased() && r != null) {
            r.free();
        }
    }

    @Override
    public Float8Tensor toHost(Float8Tensor q) {
        if (!q.isOnDevice()) {
            return q;
        }
        try {
            DeviceFloat8 stored = DeviceMemory.ours(q).fp8;
            Float8Tensor host = casts.downloadFloat8(stored, q.originalDType(), q.shape());
            return host.spec().equals(q.spec()) ? host : host.alongOtherAxis();
        } finally {
            Reference.reachabilityFence(q);
        }
    }

    @Override
    public void copyFromHost(Tensor into, Tensor source) {
        if (!into.isOnDevice()) {
            Backend.super.copyFromHost(into, source);
            return;
        }
        Backend.checkCopyFromHost(into, source);
        try {
            memory.copyFromHost(DeviceMemory.writableView(into), source);
        } finally {
            Reference.reachabilityFence(into);
        }
    }

    @Override
    public void accumulate(Tensor into, Tensor g) {
        if (!into.isOnDevice()) {
            Backend.super.accumulate(into, toHost(g));
            return;
        }
        if (g.size() != into.size()) {
            throw new IllegalArgumentException("cannot add " + g + " into " + into + ": needs equal element counts");
        }
        Tensor dg = toDevice(g);
        try (Arena arena = Arena.ofConfined()) {
            long n = into.size();
            KernelModule elementwise = cuda.module("elementwise.cu");
            cuda.driver.launch(elementwise.function("add_into"), "add_into", (int) Math.min(4096, (n + 255) / 256), 1,
                    1, 256, 1, 1, 0, cuda.stream, elementwise.args(arena, "add_into",
                            DeviceMemory.writableView(into).pointer(), dt(into.dtype()),
                            DeviceMemory.deviceView(dg).pointer(), n, dt(dg.dtype())));
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
            DeviceTensor d = DeviceMemory.writableView(t);
            if (t.dtype() == DType.F32) {
                cuda.driver.memset32(d.pointer(), 0, t.size(), cuda.stream);
            } else {
                cuda.driver.memset8(d.pointer(), (byte) 0, d.bytes(), cuda.stream);
            }
        } finally {
            Reference.reachabilityFence(t);
        }
    }

    @Override
    public void copyElements(Tensor from, int fromIndex, Tensor into, int intoIndex, int count) {
        if (!from.isOnDevice() && !into.isOnDevice()) {
            Backend.super.copyElements(from, fromIndex, into, intoIndex, count);
            return;
        }
        Backend.checkCopyElements(from, fromIndex, into, intoIndex, count);
        if (!from.isOnDevice() || !into.isOnDevice()) {
            throw new IllegalArgumentException("copyElements copies within one place; " + from + " and " + into
                    + " differ: use toDevice or toHost first");
        }
        try {
            cuda.driver.copyOnDevice(DeviceMemory.writableView(into).pointer() + 4L * intoIndex,
                    DeviceMemory.deviceView(from).pointer() + 4L * fromIndex, 4L * count, cuda.stream);
        } finally {
            Reference.reachabilityFence(from);
            Reference.reachabilityFence(into);
        }
    }

    @Override
    public Tensor zeros(int... shape) {
        int rows = 1;
        for (int i = 0; i < shape.length - 1; i++) {
            rows *= shape[i];
        }
        Tensor t = wrap(allocate(rows, shape[shape.length - 1], DType.F32), shape);
        zero(t);
        return t;
    }

    /** The compute stream every operation of this backend is queued on (collectives order themselves after it). */
    MemorySegment stream() {
        return cuda.stream;
    }

    /** The loaded CUDA stack (driver, stream, kernel modules), for the collectives of this package. */
    CudaContext context() {
        return cuda;
    }

    /** The maxima the model ops' kernels report for the casts after them, for this package's tests. */
    ProducerMaxima maxima() {
        return maxima;
    }

    CudaCasts casts() {
        return casts;
    }

    /** q as a tensor of this backend, released like every result of it. */
    Float8Tensor wrap(DeviceFloat8 q, DType originalDType, int... shape) {
        return memory.resident(q, originalDType, shape);
    }

    /** The device memory behind a device tensor of this backend, seen with t's matrix shape, for collectives. */
    static DeviceTensor deviceTensorOf(Tensor t) {
        return DeviceMemory.deviceView(t);
    }

    /** d as a tensor of this backend of the given shape, released like every result of it. */
    Tensor wrap(DeviceTensor d, int... shape) {
        return memory.resident(d, shape);
    }

    /**
     * q on this GPU in the K-contiguous layout of q's own axis; temporary when it had to be made: uploaded from
     * the host, or the exact transpose of a device copy seen through {@link Float8Tensor#alongOtherAxis()}.
     */
    private record GemmOperand(DeviceFloat8 q, boolean temporary) {
    }

    private GemmOperand gemmOperand(Float8Tensor q) {
        if (!q.isOnDevice()) {
            return new GemmOperand(casts.uploadFloat8(q), true);
        }
        DeviceFloat8 stored = DeviceMemory.ours(q).fp8;
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

    /**
     * t as a high-precision gemm with other takes it: itself when their dtypes agree or t is BF16, else rounded to
     * BF16. BF16 activations times an F32 master weight so run on BF16 tensor cores with F32 accumulation, as autocast
     * does; converting the activations up instead ran an F32 gemm about ten times slower
     * (benchmarks/results/saved-input-copy.md). A converted copy is the caller's to close ({@link #closeIfCopy}).
     */
    private DeviceTensor inMatmulDtype(DeviceTensor t, DeviceTensor other) {
        return t.dtype() == other.dtype() || t.dtype() == DType.BF16 ? t : convert(t, DType.BF16);
    }

    /** An F32 device tensor beside BF16 is rounded to BF16 once here, as {@link #inMatmulDtype} would per call. */
    @Override
    public Tensor matmulOperand(Tensor t, DType other) {
        if (!t.isOnDevice() || t.dtype() != DType.F32 || other != DType.BF16) {
            return t;
        }
        try {
            return memory.resident(convert(DeviceMemory.deviceView(t), DType.BF16), t.shape());
        } finally {
            Reference.reachabilityFence(t);
        }
    }

    private static void closeIfCopy(DeviceTensor used, Tensor of) {
        if (used.buffer() != DeviceMemory.deviceView(of).buffer()) {
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
        int depth = gemmDepth(a, b);
        if (needsDequantizedGemm(a, b)) {
            return matmul(dequantize(a), a.axis(), dequantize(b), b.axis(), out);
        }
        if (a.isOnDevice() || b.isOnDevice()) {
            return onGemmOperands(a, b, (qa, qb) -> {
                DeviceTensor d = gemm(qa, qb, out, false);
                return memory.resident(d, d.rows(), d.cols());
            });
        }
        return out == DType.F32 ? gemms.hostGemm(a, b, depth) : gemms.hostGemm(a, b, depth).to(out);
    }

    /**
     * With device operands (or bias) the bias goes into cuBLASLt's epilogue on the GPU; with host ones the F32
     * result comes back and the bias is added on the host, before the one rounding to out.
     */
    @Override
    public Tensor gemm(Float8Tensor a, Float8Tensor b, Tensor bias, DType out) {
        if (bias == null) {
            return gemm(a, b, out);
        }
        gemmDepth(a, b);
        Backend.checkBias(bias, b.axis() == 1 ? b.rows() : b.cols());
        if (needsDequantizedGemm(a, b)) {
            return matmul(dequantize(a), a.axis(), dequantize(b), b.axis(), bias, out);
        }
        if (a.isOnDevice() || b.isOnDevice() || bias.isOnDevice()) {
            return residentGemm(a, b, bias, out, null, false);
        }
        return Backend.super.gemm(a, b, bias, out);
    }

    /** As {@link #gemm(Float8Tensor, Float8Tensor, Tensor, DType, Tensor, boolean)} with full-precision accumulation. */
    @Override
    public Tensor gemm(Float8Tensor a, Float8Tensor b, Tensor bias, DType out, Tensor addend) {
        return gemm(a, b, bias, out, addend, false);
    }

    /**
     * With device operands (or bias or addend) the addend is cuBLASLt's C on the GPU, added with the bias in the
     * gemm's epilogue; with host ones everything is added on the host, before the one rounding to out. Fast
     * accumulation reaches cuBLASLt's FAST_ACCUM where the FP8 operands live on the GPU and their scales are tensorwise
     * or rowwise (cuBLASLt has none for block scales, where it is left off); host operands are summed without it.
     */
    @Override
    public Tensor gemm(Float8Tensor a, Float8Tensor b, Tensor bias, DType out, Tensor addend,
            boolean fastAccumulation) {
        if (addend == null && !fastAccumulation) {
            return gemm(a, b, bias, out);
        }
        gemmDepth(a, b);
        int n = b.axis() == 1 ? b.rows() : b.cols();
        if (bias != null) {
            Backend.checkBias(bias, n);
        }
        if (addend != null) {
            Backend.checkAddend(addend, a.axis() == 1 ? a.rows() : a.cols(), n, out);
        }
        if (needsDequantizedGemm(a, b)) {
            return matmul(dequantize(a), a.axis(), dequantize(b), b.axis(), bias, out, addend);
        }
        boolean operandsOnDevice = a.isOnDevice() || b.isOnDevice();
        if (!operandsOnDevice && (bias == null || !bias.isOnDevice()) && (addend == null || !addend.isOnDevice())) {
            return Backend.super.gemm(a, b, bias, out, addend);
        }
        return residentGemm(a, b, bias, out, addend, fastAccumulation && operandsOnDevice);
    }

    /**
     * The FP8 gemm plus bias and addend (either null) on the GPU, host tensors uploaded for the call: a device
     * result.
     */
    private Tensor residentGemm(Float8Tensor a, Float8Tensor b, Tensor bias, DType out, Tensor addend,
            boolean fastAccumulation) {
        Tensor dBias = bias == null ? null : toDevice(bias);
        Tensor dAddend = addend == null ? null : toDevice(addend);
        try {
            return onGemmOperands(a, b, (qa, qb) -> {
                DeviceTensor d = gemms.gemm(qa, qb, dBias == null ? null : DeviceMemory.deviceView(dBias), out,
                        fastAccumulation, dAddend == null ? null : DeviceMemory.deviceView(dAddend));
                return memory.resident(d, d.rows(), d.cols());
            });
        } finally {
            Reference.reachabilityFence(dBias);
            Reference.reachabilityFence(dAddend);
        }
    }

    /** The length both operands sum over; fails when they differ. */
    private static int gemmDepth(Float8Tensor a, Float8Tensor b) {
        int depth = a.axis() == 1 ? a.cols() : a.rows();
        int depthB = b.axis() == 1 ? b.cols() : b.rows();
        if (depth != depthB) {
            throw new IllegalArgumentException("gemm: A " + Arrays.toString(a.shape()) + " along axis " + a.axis()
                    + " sums over " + depth + " elements, B " + Arrays.toString(b.shape()) + " along axis " + b.axis()
                    + " over " + depthB);
        }
        return depth;
    }

}
