package dev.float8j.runtime.cuda;

import static dev.float8j.runtime.cuda.DeviceFloat8.ceilDiv;
import static dev.float8j.runtime.cuda.OpLaunches.THREADS;
import static dev.float8j.runtime.cuda.OpLaunches.dt;
import static dev.float8j.runtime.cuda.OpLaunches.gradientTarget;
import static dev.float8j.runtime.cuda.OpLaunches.requireSameShape;
import static dev.float8j.runtime.ops.HostTensors.requireActivation;
import static dev.float8j.runtime.ops.HostTensors.requireMatrix;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.ops.AdamWStep;
import dev.float8j.runtime.ops.AddNormResult;
import dev.float8j.runtime.ops.AttentionGrads;
import dev.float8j.runtime.ops.AttentionResult;
import dev.float8j.runtime.ops.AttentionShape;
import dev.float8j.runtime.ops.HostOpChecks;
import dev.float8j.runtime.ops.LossResult;
import dev.float8j.runtime.ops.ModelOps;
import dev.float8j.runtime.ops.NormResult;
import dev.float8j.runtime.ops.ReferenceModelOps;
import dev.float8j.runtime.ops.TokenIds;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.ref.Reference;
import java.util.Arrays;
import java.util.List;

/**
 * {@link ModelOps} on the GPU: one small kernel per op, queued on the backend's stream with no host
 * synchronization, F32 math on F32 or BF16 tensors. Kernels live in one file per op family (elementwise.cu,
 * embedding.cu, rmsnorm.cu, rope.cu, cross_entropy.cu); attention is {@link CudaAttention}'s (attention.cu,
 * attention_sm90.cu), the optimizer {@link CudaOptimizerOps}'s (optimizer.cu); {@link OpLaunches} queues them all.
 *
 * <p>Inputs on the host are copied to the GPU; results are device tensors. Tensors that an op writes into
 * (gradients, parameters, optimizer moments) must already be device tensors of this backend. Reductions (the
 * RMSNorm gain's gradient, the loss, the squared norm, repeated embedding ids) add in a fixed order, so a step
 * gives the same bits every run; their scratch is a grow-only {@link Workspace}, so once warm no op asks the
 * allocator for more than its results.
 */
final class CudaModelOps implements ModelOps {
    private static final int CE_THREADS = 512;
    /** Shared memory an RMSNorm kernel may use: the forward's staged rows, the backward's column sums or maxima. */
    private static final int NORM_SHARED_BYTES = 96 * 1024;
    /** Blocks per multiprocessor of the staged RMSNorm forward at most: rmsnorm.cu's FORWARD_BLOCKS_PER_SM. */
    private static final int NORM_FORWARD_BLOCKS_PER_SM = 8;
    /** Threads of the RMSNorm forward that holds rows in registers: rmsnorm.cu's FORWARD_ROW_THREADS. */
    private static final int NORM_ROW_THREADS = 128;
    /** Its blocks per multiprocessor (its launch bounds): rmsnorm.cu's FORWARD_ROW_BLOCKS_PER_SM. */
    private static final int NORM_ROW_BLOCKS_PER_SM = 4;
    /** The longest rows it holds: 8 * FORWARD_ROW_UNITS * FORWARD_ROW_THREADS (rmsnorm.cu). */
    private static final int NORM_FORWARD_REGISTER_DIM = 8 * 4 * NORM_ROW_THREADS;
    /**
     * Shared memory a block takes besides its dynamic shared memory: the forward's static arrays (384 bytes) and the
     * 1 KiB the hardware reserves per block, rounded up.
     */
    private static final int NORM_FORWARD_BLOCK_OVERHEAD_BYTES = 2048;
    /** Blocks per multiprocessor of the RMSNorm backward: rmsnorm.cu's BACKWARD_BLOCKS_PER_SM (its launch bounds). */
    private static final int NORM_BACKWARD_BLOCKS_PER_SM = 2;
    /** rmsnorm.cu's GAIN_SUM_COLUMNS: the gain's columns each block of rms_norm_gain_sum (THREADS threads) takes. */
    private static final int GAIN_SUM_COLUMNS = 32;
    /** The longest rows the RMSNorm backward holds in registers: 8 * BACKWARD_ROW_UNITS * THREADS (rmsnorm.cu). */
    private static final int NORM_BACKWARD_REGISTER_DIM = 8 * 2 * THREADS;

    /** struct RopeArgs of rope.cu. */
    static final StructLayout ROPE_ARGS = MemoryLayout.structLayout(JAVA_INT.withName("seq"),
            JAVA_INT.withName("heads"), JAVA_INT.withName("headDim"), JAVA_FLOAT.withName("log2Theta"),
            JAVA_FLOAT.withName("sign")).withName("RopeArgs");

    private final CudaContext cuda;
    private final DeviceMemory memory;
    private final ProducerMaxima maxima;
    private final OpLaunches kernels;
    private final KernelModule elementwise;
    private final KernelModule embedding;
    private final KernelModule rmsNorm;
    private final KernelModule rope;
    private final KernelModule crossEntropy;
    private final Workspace workspace;
    private final CudaOptimizerOps optimizerOps;
    private final CudaCasts casts;
    /** Made on first use: its kernels compile only when a model has attention. */
    private CudaAttention attention;

    CudaModelOps(CudaContext cuda, DeviceMemory memory, ProducerMaxima maxima, CudaCasts casts) {
        this.cuda = cuda;
        this.memory = memory;
        this.maxima = maxima;
        this.casts = casts;
        kernels = new OpLaunches(cuda, memory);
        elementwise = cuda.module("elementwise.cu");
        embedding = cuda.module("embedding.cu");
        rmsNorm = cuda.module("rmsnorm.cu");
        rope = cuda.module("rope.cu", List.of(ROPE_ARGS));
        crossEntropy = cuda.module("cross_entropy.cu");
        for (String kernel : List.of("rms_norm", "rms_norm_backward", "rms_norm_backward_lines",
                "rms_norm_backward_bf16", "rms_norm_backward_lines_bf16")) {
            cuda.driver.setFunctionAttribute(rmsNorm.function(kernel), CudaDriver.FUNC_ATTR_MAX_DYNAMIC_SHARED_BYTES,
                    NORM_SHARED_BYTES);
        }
        workspace = new Workspace(cuda.allocator);
        optimizerOps = new CudaOptimizerOps(cuda, kernels, maxima, workspace);
    }

    // ---------------------------------------------------------------- helpers

    /** ids' device copy, after checking every id on the host against the vocabulary. */
    private static DeviceTokens tokensOf(String op, TokenIds ids, int vocabulary) {
        if (!(ids.device() instanceof DeviceTokens d)) {
            throw new IllegalArgumentException(op + ": token ids must come from this backend's ops().tokens(...)");
        }
        int[] tokens = ids.hostIds();
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= vocabulary) {
                throw new IllegalArgumentException(op + ": token " + tokens[i] + " at position " + i
                        + " is outside the vocabulary [0, " + vocabulary + ")");
            }
        }
        return d;
    }

    // ---------------------------------------------------------------- ops

    @Override
    public TokenIds tokens(int[] ids, int batch, int seq) {
        TokenIds checked = new TokenIds(ids, batch, seq, null);
        int[] layout = DeviceTokens.layout(ids);
        Resident holder = memory.resident(memory.uploadInts(layout));
        return new TokenIds(checked.hostIds(), batch, seq,
                new DeviceTokens(holder, ids.length, DeviceTokens.distinct(layout, ids.length)));
    }

    @Override
    public Tensor embedding(Tensor table, TokenIds ids, DType out) {
        String op = "embedding";
        if (table.dtype() != DType.F32) {
            throw new IllegalArgumentException(op + ": the table must be F32, got " + table);
        }
        requireActivationType(op, out);
        DeviceTokens tokens = tokensOf(op, ids, table.rows());
        DeviceTensor t = kernels.in(table);
        int dim = table.cols();
        Tensor y = kernels.result(out, ids.count(), dim);
        kernels.launch(embedding, "embedding_gather", ids.count(), THREADS, 0, t.pointer(), tokens.ids(),
                DeviceMemory.deviceView(y).pointer(), dt(out), dim);
        Reference.reachabilityFence(table);
        Reference.reachabilityFence(ids);
        return y;
    }

    private static void requireActivationType(String op, DType d) {
        if (d != DType.F32 && d != DType.BF16) {
            throw new IllegalArgumentException(op + ": activations are F32 or BF16, got " + d);
        }
    }

    @Override
    public void embeddingBackward(Tensor gradTable, TokenIds ids, Tensor dOut) {
        String op = "embeddingBackward";
        DeviceTensor g = gradientTarget(op, "the table's gradient", gradTable);
        DeviceTokens tokens = tokensOf(op, ids, gradTable.rows());
        requireMatrix(op, "dOut", dOut, ids.count(), gradTable.cols());
        requireActivation(op, dOut);
        DeviceTensor dy = kernels.in(dOut);
        kernels.launch(embedding, "embedding_scatter", tokens.distinct(), THREADS, 0, g.pointer(),
                dt(gradTable.dtype()), tokens.ids(), tokens.order(), tokens.starts(), dy.pointer(), dt(dOut.dtype()),
                gradTable.cols());
        Reference.reachabilityFence(gradTable);
        Reference.reachabilityFence(ids);
        Reference.reachabilityFence(dOut);
    }

    @Override
    public NormResult rmsNorm(Tensor x, Tensor gain, float eps) {
        String op = "rmsNorm";
        requireActivation(op, x);
        int rows = x.rows();
        int dim = x.cols();
        requireNormGain(op, gain, dim, eps);
        DeviceTensor dx = kernels.in(x);
        DeviceTensor dg = kernels.in(gain);
        Tensor y = kernels.result(x.dtype(), x.shape());
        Tensor inverseRms = kernels.result(DType.F32, rows, 1);
        long yPointer = DeviceMemory.deviceView(y).pointer();
        long inversePointer = DeviceMemory.deviceView(inverseRms).pointer();
        if (normRowsInRegisters(dim, x, gain)) {
            kernels.launch(rmsNorm, x.dtype() == DType.BF16 ? "rms_norm_rows_bf16" : "rms_norm_rows",
                    normRowBlocks(rows), NORM_ROW_THREADS, 0, dx.pointer(), dg.pointer(), yPointer, inversePointer,
                    rows, dim, eps, maxima.amaxWordFor(y));
        } else {
            // two staged rows a block where they fit (rmsnorm.cu)
            int shared = normForwardShared(dim, 2 * stagedRowBytes(dim, x.dtype()));
            kernels.launch(rmsNorm, "rms_norm", normForwardBlocks(rows, shared), THREADS, shared, dx.pointer(),
                    dt(x.dtype()), dg.pointer(), yPointer, inversePointer, rows, dim, eps, maxima.amaxWordFor(y));
        }
        Reference.reachabilityFence(x);
        Reference.reachabilityFence(gain);
        return new NormResult(y, inverseRms);
    }

    /** A forward norm's gain (F32, 1 x dim) and eps (positive). */
    private static void requireNormGain(String op, Tensor gain, int dim, float eps) {
        requireMatrix(op, "gain", gain, 1, dim);
        if (gain.dtype() != DType.F32) {
            throw new IllegalArgumentException(op + ": the gain must be F32, got " + gain);
        }
        if (!(eps > 0)) {
            throw new IllegalArgumentException(op + ": eps must be positive, got " + eps);
        }
    }

    /**
     * One pass where the rows fit the register kernels (see {@link #normRowsInRegisters}) and both inputs have one
     * dtype: the sum written once and normalized as it is made, with the bits of add and then rmsNorm (see ModelOps),
     * since rmsNorm takes the same kernel template for the sum. Elsewhere those two kernels, as the default does.
     */
    @Override
    public AddNormResult addRmsNorm(Tensor stream, Tensor branch, Tensor gain, float eps) {
        String op = "addRmsNorm";
        HostOpChecks.add(op, stream, branch);
        requireActivation(op, branch);
        int rows = stream.rows();
        int dim = stream.cols();
        requireNormGain(op, gain, dim, eps);
        if (stream.dtype() != branch.dtype() || !normRowsInRegisters(dim, stream, gain) || !aligned16(branch)) {
            return ModelOps.super.addRmsNorm(stream, branch, gain, eps);
        }
        DeviceTensor da = kernels.in(stream);
        DeviceTensor db = kernels.in(branch);
        DeviceTensor dg = kernels.in(gain);
        Tensor sum = kernels.result(stream.dtype(), stream.shape());
        Tensor y = kernels.result(stream.dtype(), stream.shape());
        Tensor inverseRms = kernels.result(DType.F32, rows, 1);
        kernels.launch(rmsNorm, stream.dtype() == DType.BF16 ? "add_rms_norm_rows_bf16" : "add_rms_norm_rows",
                normRowBlocks(rows), NORM_ROW_THREADS, 0, da.pointer(), db.pointer(), dg.pointer(),
                DeviceMemory.deviceView(sum).pointer(), DeviceMemory.deviceView(y).pointer(),
                DeviceMemory.deviceView(inverseRms).pointer(), rows, dim, eps, maxima.amaxWordFor(y));
        Reference.reachabilityFence(stream);
        Reference.reachabilityFence(branch);
        Reference.reachabilityFence(gain);
        return new AddNormResult(sum, new NormResult(y, inverseRms));
    }

    /**
     * Whether a forward norm holds its rows in registers (rmsnorm.cu's norm_forward_rows): whole units of 8 elements
     * that fit, x and the gain starting on 16 bytes (results always do).
     */
    private static boolean normRowsInRegisters(int dim, Tensor x, Tensor gain) {
        return dim % 8 == 0 && dim <= NORM_FORWARD_REGISTER_DIM && aligned16(x) && aligned16(gain);
    }

    /** The register forward's blocks: as many as the multiprocessors hold at once, each looping over rows. */
    private int normRowBlocks(int rows) {
        return Math.min(rows, NORM_ROW_BLOCKS_PER_SM * cuda.multiprocessors);
    }

    /** Whether t's device memory starts on 16 bytes (a host tensor's upload does). */
    private static boolean aligned16(Tensor t) {
        return !t.isOnDevice() || DeviceMemory.deviceView(t).pointer() % 16 == 0;
    }

    /** The staged forward's dynamic shared memory: the staged rows' bytes where they fit, else none (elementwise). */
    private static int normForwardShared(int dim, int stagedBytes) {
        return dim % 4 == 0 && stagedBytes <= NORM_SHARED_BYTES ? stagedBytes : 0;
    }

    /**
     * As many blocks of the staged forward as the multiprocessors hold at once with that shared memory, each looping
     * over rows: a block not resident from the start would take its rows on late.
     */
    private int normForwardBlocks(int rows, int shared) {
        int perMultiprocessor = Math.clamp(cuda.sharedBytesPerMultiprocessor / (shared
                + NORM_FORWARD_BLOCK_OVERHEAD_BYTES), 1, NORM_FORWARD_BLOCKS_PER_SM);
        return Math.min(rows, perMultiprocessor * cuda.multiprocessors);
    }

    @Override
    public Tensor rmsNormBackward(Tensor dY, Tensor x, Tensor gain, Tensor inverseRms, Tensor gradGain) {
        return normBackward("rmsNormBackward", null, List.of(dY), x, gain, inverseRms, gradGain);
    }

    /** One pass: the norm's dX added to residual as it is written (see ModelOps). */
    @Override
    public Tensor rmsNormBackwardAdd(Tensor residual, Tensor dY, Tensor x, Tensor gain, Tensor inverseRms,
            Tensor gradGain) {
        return normBackward("rmsNormBackwardAdd", residual, List.of(dY), x, gain, inverseRms, gradGain);
    }

    /** One pass: the parts summed as they are read (see ModelOps). */
    @Override
    public Tensor rmsNormBackwardSum(Tensor residual, List<Tensor> dYParts, Tensor x, Tensor gain,
            Tensor inverseRms, Tensor gradGain) {
        return normBackward("rmsNormBackwardSum", residual, dYParts, x, gain, inverseRms, gradGain);
    }

    /**
     * dX for dY the F32 sum of dYParts, or residual + dX when residual is not null; the result reports its amax for the
     * next FP8 cast.
     */
    private Tensor normBackward(String op, Tensor residual, List<Tensor> dYParts, Tensor x, Tensor gain,
            Tensor inverseRms, Tensor gradGain) {
        int rows = x.rows();
        int dim = x.cols();
        requireActivation(op, x);
        if (residual != null) {
            requireActivation(op, residual);
            if (residual.size() != x.size()) {
                throw new IllegalArgumentException(op + ": the residual " + residual + " and x " + x
                        + " hold different element counts");
            }
        }
        HostOpChecks.gradientParts(op, dYParts, x);  // shapes and dtypes only, which hold on any backend
        Tensor dY = dYParts.get(0);
        requireMatrix(op, "gain", gain, 1, dim);
        requireMatrix(op, "gradGain", gradGain, 1, dim);
        requireMatrix(op, "inverseRms", inverseRms, rows, 1);
        if (4L * dim > NORM_SHARED_BYTES) {
            throw new IllegalArgumentException(op + ": rows of " + dim + " elements exceed the kernel's limit of "
                    + NORM_SHARED_BYTES / 4);
        }
        DeviceTensor gg = gradientTarget(op, "gradGain", gradGain);
        DeviceTensor ddy = kernels.in(dY);
        long dy2 = dYParts.size() > 1 ? kernels.in(dYParts.get(1)).pointer() : 0L;
        long dy3 = dYParts.size() > 2 ? kernels.in(dYParts.get(2)).pointer() : 0L;
        DeviceTensor dx = kernels.in(x);
        DeviceTensor dg = kernels.in(gain);
        DeviceTensor dinv = kernels.in(inverseRms);
        long res = residual == null ? 0L : kernels.in(residual).pointer();
        // as many blocks as the multiprocessors hold at once, each looping over rows while its next row loads; with
        // more (there were eight per multiprocessor, of which three fit) the rest ran in later waves, the last one on
        // part of the GPU
        int blocks = Math.min(rows, NORM_BACKWARD_BLOCKS_PER_SM * cuda.multiprocessors);
        long partials = workspace.floats((long) blocks * dim);
        Tensor dX = residual == null ? kernels.result(x.dtype(), x.shape())
                : kernels.result(residual.dtype(), residual.shape());
        // rows held in registers where every tensor starts on 16 bytes and rows are whole units of 8 that fit; the line
        // maxima only there (rmsnorm.cu). The dim words of shared memory hold the column maxima or the column sums
        boolean registers = dim % 8 == 0 && dim <= NORM_BACKWARD_REGISTER_DIM && aligned16(x) && aligned16(gain)
                && dYParts.stream().allMatch(CudaModelOps::aligned16) && (residual == null || aligned16(residual))
                && dY.dtype() == x.dtype() && dX.dtype() == x.dtype();
        ProducerMaxima.Maxima reported = maxima.maximaFor(dX, registers);
        int shared = 4 * dim;
        long out = DeviceMemory.deviceView(dX).pointer();
        // a kernel per dtype of the rows held in registers (rmsnorm.cu)
        String kernel = (reported.lines() != 0 ? "rms_norm_backward_lines" : "rms_norm_backward")
                + (x.dtype() == DType.BF16 ? "_bf16" : "");
        if (reported.lines() != 0) {
            kernels.launch(rmsNorm, kernel, blocks, THREADS, shared, ddy.pointer(), dy2, dy3, dt(dY.dtype()),
                    dx.pointer(), dt(x.dtype()), dg.pointer(), dinv.pointer(), res, dt(dX.dtype()), out, partials,
                    rows, dim, reported.total(), reported.lines());
        } else {
            kernels.launch(rmsNorm, kernel, blocks, THREADS, shared, ddy.pointer(), dy2, dy3, dt(dY.dtype()),
                    dx.pointer(), dt(x.dtype()), dg.pointer(), dinv.pointer(), res, dt(dX.dtype()), out, partials,
                    rows, dim, reported.total());
        }
        kernels.launch(rmsNorm, "rms_norm_gain_sum", ceilDiv(dim, GAIN_SUM_COLUMNS), THREADS, 0, partials, blocks, dim,
                gg.pointer(), dt(gradGain.dtype()));
        Reference.reachabilityFence(residual);
        Reference.reachabilityFence(dYParts);
        Reference.reachabilityFence(x);
        Reference.reachabilityFence(gain);
        Reference.reachabilityFence(inverseRms);
        Reference.reachabilityFence(gradGain);
        return dX;
    }

    /** rmsnorm.cu's staged_row_bytes: a row of dim elements in shared memory, rounded up to 16 bytes. */
    private static int stagedRowBytes(int dim, DType dtype) {
        return (dim * (dtype == DType.F32 ? 4 : 2) + 15) & ~15;
    }

    @Override
    public Tensor rope(Tensor x, AttentionShape shape, int heads, float theta, boolean inverse) {
        String op = "rope";
        requireActivation(op, x);
        requireMatrix(op, "x", x, shape.tokens(), heads * shape.headDim());
        requireTheta(op, theta);
        DeviceTensor dx = kernels.in(x);
        Tensor y = kernels.result(x.dtype(), x.shape());
        // the inverse's result is a projection's gradient, whose FP8 cast reads its amax
        launchRope(dx.pointer(), x.dtype(), 1f, y, shape, heads, theta, inverse);
        Reference.reachabilityFence(x);
        return y;
    }

    /**
     * y = the rotary embedding (inverse: turned back) of the [tokens, heads * headDim] matrix at x (xType, its
     * elements times xScale), one block per row; the inverse reports y's amax.
     */
    private void launchRope(long x, DType xType, float xScale, Tensor y, AttentionShape shape, int heads, float theta,
            boolean inverse) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment args = arena.allocate(ROPE_ARGS);
            args.set(JAVA_INT, CudaCasts.offset(ROPE_ARGS, "seq"), shape.seq());
            args.set(JAVA_INT, CudaCasts.offset(ROPE_ARGS, "heads"), heads);
            args.set(JAVA_INT, CudaCasts.offset(ROPE_ARGS, "headDim"), shape.headDim());
            args.set(JAVA_FLOAT, CudaCasts.offset(ROPE_ARGS, "log2Theta"), (float) (Math.log(theta) / Math.log(2)));
            args.set(JAVA_FLOAT, CudaCasts.offset(ROPE_ARGS, "sign"), inverse ? -1f : 1f);
            // a thread turns four pairs a step: a row of the keys' 8 heads of 128 (512 pairs) keeps 128 threads busy,
            // and 256 left half of each block idle (the keys' rope ran at 2.0 TB/s on an H200, the queries' at 3.3)
            int pairs = heads * (shape.headDim() / 2);
            int threads = Math.min(THREADS, Math.max(32, (pairs / 4 + 31) / 32 * 32));
            kernels.launch(rope, "rope", shape.tokens(), threads, 0, x, dt(xType), xScale,
                    DeviceMemory.deviceView(y).pointer(), dt(y.dtype()), args, inverse ? maxima.amaxWordFor(y) : 0L);
        }
    }

    // ---------------------------------------------------------------- attention (CudaAttention's kernels)

    /**
     * For BF16 inputs the kernel writes the output with its amax, which the output projection's cast then need not
     * find in a pass of its own; F32 inputs go through BF16 copies and back, without one.
     */
    @Override
    public AttentionResult attention(Tensor q, Tensor k, Tensor v, AttentionShape shape) {
        String op = "attention";
        checkAttentionInputs(op, q, k, v, shape);
        if (q.dtype() == DType.BF16) {
            Tensor out = kernels.result(DType.BF16, q.shape());
            DeviceTensor lse;
            try {
                lse = attentionKernels().forward(kernels.in(q), kernels.in(k), kernels.in(v), shape,
                        DeviceMemory.deviceView(out), maxima.amaxWordFor(out));
            } catch (RuntimeException e) {
                DeviceMemory.release(out);  // made here, not returned
                throw e;
            } finally {
                kernels.releaseUploads();
            }
            Reference.reachabilityFence(q);
            Reference.reachabilityFence(k);
            Reference.reachabilityFence(v);
            return new AttentionResult(out, memory.resident(lse, shape.batch() * shape.heads(), shape.seq()));
        }
        DeviceTensor[] outAndLse;
        try {
            outAndLse = attentionForwardKernel(kernels.in(q), kernels.in(k), kernels.in(v), shape);
        } finally {
            kernels.releaseUploads();
        }
        Reference.reachabilityFence(q);
        Reference.reachabilityFence(k);
        Reference.reachabilityFence(v);
        return new AttentionResult(memory.resident(outAndLse[0], q.shape()),
                memory.resident(outAndLse[1], shape.batch() * shape.heads(), shape.seq()));
    }

    @Override
    public AttentionGrads attentionBackward(Tensor dOut, Tensor q, Tensor k, Tensor v, AttentionResult forward,
            AttentionShape shape) {
        String op = "attentionBackward";
        checkAttentionInputs(op, q, k, v, shape);
        checkAttentionBackwardInputs(op, dOut, q, forward, shape);
        DeviceTensor[] grads;
        try {
            grads = attentionBackwardKernel(kernels.in(dOut), kernels.in(q), kernels.in(k), kernels.in(v),
                    kernels.in(forward.out()), kernels.in(forward.logSumExp()), shape);
        } finally {
            kernels.releaseUploads();
        }
        Reference.reachabilityFence(dOut);
        Reference.reachabilityFence(q);
        Reference.reachabilityFence(k);
        Reference.reachabilityFence(v);
        Reference.reachabilityFence(forward);
        return new AttentionGrads(memory.resident(grads[0], q.shape()), memory.resident(grads[1], k.shape()),
                memory.resident(grads[2], v.shape()));
    }

    /**
     * For BF16 q, k and v, dQ is turned back through the rotary embedding as the attention backward's F32 accumulator
     * is rounded to BF16: the rope kernel reads the accumulator instead of a BF16 dQ that a conversion pass wrote, so
     * dQ is written once and read by nobody before its projection's cast (and rounded once, from F32). dK goes
     * through the rope kernel as before. F32 inputs take the default's three calls.
     */
    @Override
    public AttentionGrads attentionBackwardUnrotated(Tensor dOut, Tensor q, Tensor k, Tensor v,
            AttentionResult forward, AttentionShape shape, float theta) {
        String op = "attentionBackwardUnrotated";
        checkAttentionInputs(op, q, k, v, shape);
        checkAttentionBackwardInputs(op, dOut, q, forward, shape);
        requireTheta(op, theta);
        if (q.dtype() != DType.BF16) {
            return ModelOps.super.attentionBackwardUnrotated(dOut, q, k, v, forward, shape, theta);
        }
        Tensor dQ = kernels.result(DType.BF16, q.shape());
        DeviceTensor[] kv;
        try {
            kv = attentionKernels().backward(kernels.in(dOut), kernels.in(q), kernels.in(k), kernels.in(v),
                    kernels.in(forward.out()), kernels.in(forward.logSumExp()), shape, (dqAccum, scale) ->
                            launchRope(dqAccum, DType.F32, scale, dQ, shape, shape.heads(), theta, true));
        } catch (RuntimeException e) {
            DeviceMemory.release(dQ);  // made here, not returned
            throw e;
        } finally {
            kernels.releaseUploads();
        }
        Tensor dK = kernels.result(DType.BF16, k.shape());
        try (DeviceTensor rotatedDK = kv[0]) {
            launchRope(rotatedDK.pointer(), DType.BF16, 1f, dK, shape, shape.kvHeads(), theta, true);
        } catch (RuntimeException e) {
            kv[1].close();
            throw e;
        }
        Reference.reachabilityFence(dOut);
        Reference.reachabilityFence(q);
        Reference.reachabilityFence(k);
        Reference.reachabilityFence(v);
        Reference.reachabilityFence(forward);
        return new AttentionGrads(dQ, dK, memory.resident(kv[1], v.shape()));
    }

    /** dOut and the forward's results against q's shape (see {@link #checkAttentionInputs} for q, k and v). */
    private static void checkAttentionBackwardInputs(String op, Tensor dOut, Tensor q, AttentionResult forward,
            AttentionShape shape) {
        requireSameShape(op, "dOut", dOut, "q", q);
        requireSameShape(op, "the forward output", forward.out(), "q", q);
        requireMatrix(op, "logSumExp", forward.logSumExp(), shape.batch() * shape.heads(), shape.seq());
    }

    private static void requireTheta(String op, float theta) {
        if (!(theta > 1)) {
            throw new IllegalArgumentException(op + ": theta must be above 1, got " + theta);
        }
    }

    private static void checkAttentionInputs(String op, Tensor q, Tensor k, Tensor v, AttentionShape shape) {
        requireActivation(op, q);
        requireMatrix(op, "q", q, shape.tokens(), shape.heads() * shape.headDim());
        requireMatrix(op, "k", k, shape.tokens(), shape.kvHeads() * shape.headDim());
        requireSameShape(op, "k", k, "v", v);
        if (k.dtype() != q.dtype() || v.dtype() != q.dtype()) {
            throw new IllegalArgumentException(op + ": q, k and v must share a dtype, got " + q + ", " + k + ", " + v);
        }
    }

    /**
     * CudaAttention's kernels run in BF16: F32 inputs are rounded to BF16 for them and the results converted back,
     * so F32 attention carries BF16 error. (BF16 inputs go straight to the kernel: see {@link #attention}.)
     */
    private DeviceTensor[] attentionForwardKernel(DeviceTensor q, DeviceTensor k, DeviceTensor v, AttentionShape shape) {
        try (DeviceTensor qb = casts.convert(q, DType.BF16); DeviceTensor kb = casts.convert(k, DType.BF16);
                DeviceTensor vb = casts.convert(v, DType.BF16)) {
            DeviceTensor[] outAndLse = attentionKernels().forward(qb, kb, vb, shape);
            try (DeviceTensor outBf16 = outAndLse[0]) {
                return new DeviceTensor[] {casts.convert(outBf16, DType.F32), outAndLse[1]};
            }
        }
    }

    private DeviceTensor[] attentionBackwardKernel(DeviceTensor dOut, DeviceTensor q, DeviceTensor k, DeviceTensor v,
            DeviceTensor out, DeviceTensor logSumExp, AttentionShape shape) {
        if (q.dtype() == DType.BF16) {
            return attentionKernels().backward(dOut, q, k, v, out, logSumExp, shape);
        }
        try (DeviceTensor dOutB = casts.convert(dOut, DType.BF16); DeviceTensor qb = casts.convert(q, DType.BF16);
                DeviceTensor kb = casts.convert(k, DType.BF16); DeviceTensor vb = casts.convert(v, DType.BF16);
                DeviceTensor outB = casts.convert(out, DType.BF16)) {
            DeviceTensor[] grads = attentionKernels().backward(dOutB, qb, kb, vb, outB, logSumExp, shape);
            DeviceTensor[] f32 = new DeviceTensor[3];
            for (int i = 0; i < 3; i++) {
                try (DeviceTensor g = grads[i]) {
                    f32[i] = casts.convert(g, DType.F32);
                }
            }
            return f32;
        }
    }

    private CudaAttention attentionKernels() {
        if (attention == null) {
            attention = new CudaAttention(cuda);
        }
        return attention;
    }

    // ---------------------------------------------------------------- SwiGLU and residual

    @Override
    public Tensor swiglu(Tensor gate, Tensor up) {
        String op = "swiglu";
        requireActivation(op, gate);
        requireActivation(op, up);
        requireSameShape(op, "gate", gate, "up", up);
        DeviceTensor g = kernels.in(gate);
        DeviceTensor u = kernels.in(up);
        Tensor h = kernels.result(gate.dtype(), gate.shape());
        ProducerMaxima.Maxima reported = maxima.maximaFor(h, true);
        if (reported.lines() != 0) {
            // one wave of the three blocks a multiprocessor holds (78 registers), as swigluBackward's kernel
            kernels.launch(elementwise, "swiglu_lines", kernels.lineGrid(reported, 3), THREADS, 0, g.pointer(),
                    dt(gate.dtype()), u.pointer(), dt(up.dtype()), DeviceMemory.deviceView(h).pointer(),
                    (long) h.rows(), h.cols(), reported.total(), reported.lines());
        } else {
            kernels.launch(elementwise, "swiglu", kernels.gridFor(gate.size()), THREADS, 0, g.pointer(),
                    dt(gate.dtype()), u.pointer(), dt(up.dtype()), DeviceMemory.deviceView(h).pointer(),
                    (long) gate.size(), reported.total());
        }
        Reference.reachabilityFence(gate);
        Reference.reachabilityFence(up);
        return h;
    }

    @Override
    public Tensor[] swigluBackward(Tensor dH, Tensor gate, Tensor up) {
        String op = "swigluBackward";
        requireActivation(op, gate);
        requireActivation(op, up);
        requireActivation(op, dH);
        requireSameShape(op, "gate", gate, "up", up);
        requireSameShape(op, "dH", dH, "gate", gate);
        DeviceTensor dh = kernels.in(dH);
        DeviceTensor g = kernels.in(gate);
        DeviceTensor u = kernels.in(up);
        Tensor dGate = kernels.result(gate.dtype(), gate.shape());
        Tensor dUp = kernels.result(up.dtype(), up.shape());
        ProducerMaxima.Maxima gateMaxima = maxima.maximaFor(dGate, true);
        ProducerMaxima.Maxima upMaxima = maxima.maximaFor(dUp, true);
        if ((gateMaxima.lines() == 0) != (upMaxima.lines() == 0)) {
            throw new IllegalStateException(op + ": line maxima for one gradient only");  // same shape and alignment
        }
        long dg = DeviceMemory.deviceView(dGate).pointer();
        long du = DeviceMemory.deviceView(dUp).pointer();
        if (gateMaxima.lines() != 0) {
            // one wave of the three blocks a multiprocessor holds: 0.90 ms on 16384 x 14336 BF16 on an H100, against
            // 0.95 ms for the eight-per-multiprocessor grid of the other reporting kernels
            kernels.launch(elementwise, "swiglu_backward_lines", kernels.lineGrid(gateMaxima, 3), THREADS, 0,
                    dh.pointer(), dt(dH.dtype()), g.pointer(), dt(gate.dtype()), u.pointer(), dt(up.dtype()), dg, du,
                    (long) dGate.rows(), dGate.cols(), gateMaxima.total(), upMaxima.total(), gateMaxima.lines(),
                    upMaxima.lines());
        } else {
            kernels.launch(elementwise, "swiglu_backward", kernels.gridFor(gate.size()), THREADS, 0, dh.pointer(),
                    dt(dH.dtype()), g.pointer(), dt(gate.dtype()), u.pointer(), dt(up.dtype()), dg, du,
                    (long) gate.size(), gateMaxima.total(), upMaxima.total());
        }
        Reference.reachabilityFence(dH);
        Reference.reachabilityFence(gate);
        Reference.reachabilityFence(up);
        return new Tensor[] {dGate, dUp};
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        String op = "add";
        HostOpChecks.add(op, a, b);
        requireActivation(op, b);
        DeviceTensor da = kernels.in(a);
        DeviceTensor db = kernels.in(b);
        Tensor sum = kernels.result(a.dtype(), a.shape());
        kernels.launch(elementwise, "add", kernels.gridFor(a.size()), THREADS, 0, da.pointer(), dt(a.dtype()),
                db.pointer(), dt(b.dtype()), DeviceMemory.deviceView(sum).pointer(), (long) a.size());
        Reference.reachabilityFence(a);
        Reference.reachabilityFence(b);
        return sum;
    }

    // ---------------------------------------------------------------- loss

    @Override
    public LossResult crossEntropy(Tensor logits, TokenIds targets) {
        String op = "crossEntropy";
        requireActivation(op, logits);
        int rows = logits.rows();
        int classes = logits.cols();
        if (targets.count() != rows) {
            throw new IllegalArgumentException(op + ": logits " + Arrays.toString(logits.shape()) + " have " + rows
                    + " rows but " + targets.count() + " targets were given");
        }
        DeviceTokens t = tokensOf(op, targets, classes);
        DeviceTensor x = kernels.in(logits);
        Tensor dLogits = kernels.result(logits.dtype(), logits.shape());
        Tensor loss = kernels.result(DType.F32, 1, 1);
        long rowLoss = workspace.floats(rows);
        kernels.launch(crossEntropy, "cross_entropy", rows, CE_THREADS, 0, x.pointer(), dt(logits.dtype()), t.ids(),
                DeviceMemory.deviceView(dLogits).pointer(), rowLoss, rows, classes);
        kernels.launch(crossEntropy, "cross_entropy_mean", 1, 1024, 0, rowLoss, rows,
                DeviceMemory.deviceView(loss).pointer());
        Reference.reachabilityFence(logits);
        Reference.reachabilityFence(targets);
        return new LossResult(loss, dLogits);
    }

    // ---------------------------------------------------------------- optimizer (CudaOptimizerOps)

    @Override
    public Tensor sumOfSquares(List<Tensor> tensors) {
        return optimizerOps.sumOfSquares(tensors);
    }

    @Override
    public void adamw(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, AdamWStep step,
            Tensor sumOfSquaresOrNull, float maxNorm, Tensor guardLossOrNull) {
        optimizerOps.adamw(param, grad, expAvg, expAvgSq, step, sumOfSquaresOrNull, maxNorm, guardLossOrNull);
    }

    @Override
    public void zero(Tensor t) {
        if (!t.isOnDevice()) {
            ReferenceModelOps.INSTANCE.zero(t);
            return;
        }
        DeviceTensor d = DeviceMemory.writableView(t);
        if (t.dtype() == DType.F32) {
            cuda.driver.memset32(d.pointer(), 0, t.size(), cuda.stream);
        } else {
            cuda.driver.memset8(d.pointer(), (byte) 0, d.bytes(), cuda.stream);
        }
        Reference.reachabilityFence(t);
    }
}
