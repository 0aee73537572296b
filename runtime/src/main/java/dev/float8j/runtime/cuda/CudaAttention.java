package dev.float8j.runtime.cuda;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.ops.AttentionShape;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Fused causal self-attention with grouped-query heads in BF16 on the GPU, forward and backward
 * (attention.cu: flash-attention style, on the tensor cores, never storing the seq x seq scores). On Hopper (sm_90)
 * heads of 128 take attention_sm90.cu's wgmma kernels instead, unless {@code -Dfloat8j.cuda.hopperAttention=false}
 * asks for attention.cu's everywhere (to compare the two); there both passes load their tiles by TMA, from tensor
 * maps made here for each call.
 * Layouts as in {@link dev.float8j.runtime.ops.ModelOps#attention}: q, out [batch*seq, heads*headDim], k, v
 * [batch*seq, kvHeads*headDim], lse [batch*heads, seq] F32. Supports headDim 64 and 128 and any seq.
 * Everything runs on the context's one stream; results are new device tensors the caller closes.
 */
public final class CudaAttention {
    /** Query rows per tile of the backward, keys per tile of the forward (BWD_M, TILE_N in attention.cu). */
    private static final int TILE = 64;
    private static final int MAX_GRID_Y = 65535;
    /** The kernels align their shared memory's start to 256 bytes themselves (smem_base256). */
    private static final int ALIGN_SLACK = 256;
    /** Forward blocks: 128 query rows (FWD_M) in 4 warps of 32 rows. */
    private static final int FORWARD_ROWS = 128;
    private static final int FORWARD_THREADS = 128;
    /** Backward blocks: 128 keys (BWD_N) in 8 warps, each covering 32 keys of a product. */
    private static final int BACKWARD_KEYS = 128;
    private static final int BACKWARD_THREADS = 256;
    /** attention.cu's DELTA_WARP_ITEMS: the (row, head) items each warp of attention_backward_delta takes. */
    private static final int DELTA_WARP_ITEMS = 2;
    /** attention_sm90.cu's kernels align their shared memory's start to 1024 bytes (the 128-byte swizzle's period). */
    private static final int HOPPER_ALIGN_SLACK = 1024;
    /**
     * attention_sm90.cu's forward: blocks of 128 query rows (WS_ROWS) in two consumer warpgroups and a producer
     * warpgroup that loads by TMA; its shared memory holds the Q tile, two stages each of K and V tiles of 128 rows
     * (WS_KEYS), and nine 8-byte mbarriers.
     */
    private static final int HOPPER_FORWARD_ROWS = 128;
    private static final int HOPPER_FORWARD_THREADS = 384;
    static final int HOPPER_FORWARD_SHARED_BYTES = 128 * 256 + 2 * 2 * 128 * 256 + 9 * 8 + HOPPER_ALIGN_SLACK;
    /**
     * Its backward: blocks of 128 keys in two consumer warpgroups and a TMA producer; its shared memory holds the K
     * and V tiles (128 rows), two stages of Q and dOut tiles (64 rows), two dS^T tiles (128 x 64 BF16), two dQ tiles
     * (64 x 64 F32), two stages of lse and delta (64 each), and five 8-byte mbarriers.
     */
    private static final int HOPPER_BACKWARD_KEYS = 128;
    private static final int HOPPER_BACKWARD_THREADS = 384;
    static final int HOPPER_BACKWARD_SHARED_BYTES = 2 * 128 * 256 + 2 * 2 * 64 * 256 + 2 * 128 * 64 * 2
            + 2 * 64 * 64 * 4 + 2 * 2 * 64 * 4 + 5 * 8 + HOPPER_ALIGN_SLACK;
    /**
     * How many units the Hopper kernels' grids take at a time by default (attention_sm90.cu's banded_block): the
     * forward's units are heads, two kv groups' a band; the backward's are a batch's kv heads.
     */
    private static final String DEFAULT_BANDS = "8,4";
    /** A TMA box of BF16 values: 64 columns (128 bytes, one swizzled panel row) by 64 rows of one sequence. */
    private static final int[] BF16_BOX = {64, 64, 1};
    /** The same 128 bytes of F32 values (dQ's accumulator). */
    private static final int[] F32_BOX = {32, 64, 1};

    /** Q tile of FORWARD_ROWS rows, then two stages of a K and a V tile of 64 rows. */
    static int forwardSharedBytes(int headDim) {
        return FORWARD_ROWS * headDim * 2 + 4 * TILE * headDim * 2 + ALIGN_SLACK;
    }

    /**
     * K and V tiles of BACKWARD_KEYS rows, two stages of Q and dOut tiles of 64 rows, the dS^T and P^T tiles
     * (BACKWARD_KEYS x 64 each), two stages of lse and delta (64 each).
     */
    static int backwardSharedBytes(int headDim) {
        return 2 * BACKWARD_KEYS * headDim * 2 + 4 * TILE * headDim * 2 + 2 * BACKWARD_KEYS * TILE * 2
                + 2 * 2 * TILE * 4 + ALIGN_SLACK;
    }

    private final CudaContext cuda;
    private final MemorySegment forward64;
    private final MemorySegment forward128;
    private final MemorySegment backward64;
    private final MemorySegment backward128;
    private final MemorySegment delta;
    private final MemorySegment dqConvert;
    private final KernelModule module;
    /** attention_sm90.cu on a Hopper GPU (unless turned off), else null. */
    private final KernelModule hopper;
    /**
     * The Hopper grids' bands, forward and backward: DEFAULT_BANDS, or {@code -Dfloat8j.cuda.attentionBands=F,B} to
     * compare orders (1: each unit in turn; at least the units: longest first across the grid).
     */
    private final int[] hopperBands;

    /** attention.cu for this GPU (and attention_sm90.cu on Hopper), compiled and loaded once per context. */
    CudaAttention(CudaContext cuda) {
        this.cuda = cuda;
        this.module = cuda.module("attention.cu");
        CudaDriver driver = cuda.driver;
        boolean useHopper = cuda.computeCapability == 90
                && !"false".equals(System.getProperty("float8j.cuda.hopperAttention"));
        this.hopperBands = bands(System.getProperty("float8j.cuda.attentionBands", DEFAULT_BANDS));
        this.hopper = useHopper ? hopperModule(cuda) : null;
        if (hopper != null) {
            driver.setFunctionAttribute(hopper.function("attention_forward_sm90_ws_d128"),
                    CudaDriver.FUNC_ATTR_MAX_DYNAMIC_SHARED_BYTES, HOPPER_FORWARD_SHARED_BYTES);
            driver.setFunctionAttribute(hopper.function("attention_backward_sm90_ws_d128"),
                    CudaDriver.FUNC_ATTR_MAX_DYNAMIC_SHARED_BYTES, HOPPER_BACKWARD_SHARED_BYTES);
        }
        forward64 = module.function("attention_forward_d64");
        forward128 = module.function("attention_forward_d128");
        backward64 = module.function("attention_backward_d64");
        backward128 = module.function("attention_backward_d128");
        delta = module.function("attention_backward_delta");
        dqConvert = module.function("attention_backward_dq");
        for (int d : new int[] {64, 128}) {
            driver.setFunctionAttribute(d == 64 ? forward64 : forward128,
                    CudaDriver.FUNC_ATTR_MAX_DYNAMIC_SHARED_BYTES, forwardSharedBytes(d));
            driver.setFunctionAttribute(d == 64 ? backward64 : backward128,
                    CudaDriver.FUNC_ATTR_MAX_DYNAMIC_SHARED_BYTES, backwardSharedBytes(d));
        }
    }

    /** The bands F,B of text; an error naming the property for anything but two positive whole numbers. */
    static int[] bands(String text) {
        String[] parts = text.split(",");
        try {
            int[] bands = {Integer.parseInt(parts[0].strip()), Integer.parseInt(parts[parts.length - 1].strip())};
            if (parts.length == 2 && bands[0] > 0 && bands[1] > 0) {
                return bands;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("float8j.cuda.attentionBands must be two positive whole numbers, "
                + "forward,backward; got '" + text + "'");
    }

    /** attention_sm90.cu, or an error that says how to run on attention.cu's kernels instead. */
    private static KernelModule hopperModule(CudaContext cuda) {
        try {
            return cuda.module("attention_sm90.cu");
        } catch (CudaException e) {
            CudaException named = new CudaException("attention_sm90.cu (Hopper attention, sm_90a) did not load: "
                    + e.getMessage() + "; -Dfloat8j.cuda.hopperAttention=false runs attention.cu's kernels instead");
            named.initCause(e);
            throw named;
        }
    }

    /** Attention on the process's GPU (the context {@link CudaBackend} uses). */
    public static CudaAttention create() {
        return new CudaAttention(CudaContext.get());
    }

    /** The head sizes the kernels are compiled for, as words (for messages). */
    public static final String HEAD_DIMS = "64 and 128";

    /** Whether the kernels take heads of headDim elements (64 or 128), so that callers can check a model up front. */
    public static boolean supportsHeadDim(int headDim) {
        return headDim == 64 || headDim == 128;
    }

    /**
     * Checks the head size, grid limits and each tensor's dtype and shape against s.
     *
     * @throws IllegalArgumentException naming the first mismatch
     */
    static void check(AttentionShape s, Operand... operands) {
        if (!supportsHeadDim(s.headDim())) {
            throw new IllegalArgumentException("CUDA attention supports headDim " + HEAD_DIMS + ", not " + s.headDim());
        }
        // attention.cu's grids have batch * heads along y (forward) and the blocks of keys (backward); the Hopper
        // kernels' one-dimensional grids of batch * heads * blocks stay within the last bound's 2^31
        int backwardKeys = Math.min(BACKWARD_KEYS, HOPPER_BACKWARD_KEYS);
        if ((long) s.batch() * s.heads() > MAX_GRID_Y || ceilDiv(s.seq(), backwardKeys) > MAX_GRID_Y
                || (long) s.tokens() * s.heads() * s.headDim() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("CUDA attention: " + s + " is too large (batch * heads <= " + MAX_GRID_Y
                    + ", seq <= " + backwardKeys + " * " + MAX_GRID_Y
                    + " and batch * seq * heads * headDim < 2^31 are supported)");
        }
        for (Operand o : operands) {
            DeviceTensor d = o.tensor();
            if (d.dtype() != o.dtype() || d.rows() != o.rows() || d.cols() != o.cols()) {
                throw new IllegalArgumentException("CUDA attention: " + o.name() + " must be " + o.rows() + "x"
                        + o.cols() + " " + o.dtype() + " for " + s + ", got " + d);
            }
        }
    }

    /** A tensor argument and the dtype and shape it must have. */
    record Operand(String name, DeviceTensor tensor, DType dtype, int rows, int cols) {
    }

    private static Operand bf16(String name, DeviceTensor d, int rows, int cols) {
        return new Operand(name, d, DType.BF16, rows, cols);
    }

    private DeviceTensor allocate(int rows, int cols, DType dtype) {
        return new DeviceTensor(cuda.allocator.allocate((long) rows * cols * dtype.bytes()), rows, cols, dtype);
    }

    /** Returns {out, lse}: out like q (BF16), lse [batch*heads, seq] F32 (natural log). */
    public DeviceTensor[] forward(DeviceTensor q, DeviceTensor k, DeviceTensor v, AttentionShape s) {
        DeviceTensor out = allocate(s.tokens(), s.heads() * s.headDim(), DType.BF16);
        try {
            return new DeviceTensor[] {out, forward(q, k, v, s, out, 0L)};
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
    }

    /**
     * Writes the attention into out (BF16, q's shape) and its absolute maximum into the word at amax (0: none), for
     * the output projection's FP8 cast; returns lse [batch*heads, seq] F32 (natural log).
     */
    DeviceTensor forward(DeviceTensor q, DeviceTensor k, DeviceTensor v, AttentionShape s, DeviceTensor out,
            long amax) {
        int kvCols = s.kvHeads() * s.headDim();
        check(s, bf16("q", q, s.tokens(), s.heads() * s.headDim()), bf16("k", k, s.tokens(), kvCols),
                bf16("v", v, s.tokens(), kvCols), bf16("out", out, s.tokens(), s.heads() * s.headDim()));
        DeviceTensor lse = null;
        try {
            lse = allocate(s.batch() * s.heads(), s.seq(), DType.F32);
            float scaleLog2 = (float) (1.0 / Math.sqrt(s.headDim()) / Math.log(2));
            try (Arena arena = Arena.ofConfined()) {
                if (onHopper(s)) {
                    String kernel = "attention_forward_sm90_ws_d128";
                    // a one-dimensional grid: check's limit on the tokens' elements bounds its size
                    cuda.driver.launch(hopper.function(kernel), kernel,
                            s.batch() * s.heads() * ceilDiv(s.seq(), HOPPER_FORWARD_ROWS), 1, 1,
                            HOPPER_FORWARD_THREADS, 1, 1, HOPPER_FORWARD_SHARED_BYTES, cuda.stream,
                            hopper.args(arena, kernel, bf16Map(arena, "q", q, s, s.heads()),
                                    bf16Map(arena, "k", k, s, s.kvHeads()), bf16Map(arena, "v", v, s, s.kvHeads()),
                                    out.pointer(), lse.pointer(), s.seq(), s.heads(), s.kvHeads(), scaleLog2,
                                    s.batch(), hopperBands[0], amax));
                } else {
                    MemorySegment args = module.args(arena, "attention_forward_d" + s.headDim(), q.pointer(),
                            k.pointer(), v.pointer(), out.pointer(), lse.pointer(), s.seq(), s.heads(), s.kvHeads(),
                            scaleLog2, amax);
                    cuda.driver.launch(s.headDim() == 64 ? forward64 : forward128, "attention_forward",
                            ceilDiv(s.seq(), FORWARD_ROWS), s.batch() * s.heads(), 1, FORWARD_THREADS, 1, 1,
                            forwardSharedBytes(s.headDim()), cuda.stream, args);
                }
            }
            return lse;
        } catch (RuntimeException e) {
            if (lse != null) {
                lse.close();
            }
            throw e;
        }
    }

    /** Returns {dq, dk, dv}, each BF16 in its input's shape. out and lse are what {@link #forward} returned. */
    public DeviceTensor[] backward(DeviceTensor dOut, DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor out,
            DeviceTensor lse, AttentionShape s) {
        DeviceTensor dq = allocate(s.tokens(), s.heads() * s.headDim(), DType.BF16);
        try {
            DeviceTensor[] kv = backward(dOut, q, k, v, out, lse, s, (dqAccum, scale) -> {
                long count = (long) dq.rows() * dq.cols();
                int blocks = (int) Math.min(ceilDiv(count / 2, 256), 8L * cuda.multiprocessors);
                try (Arena arena = Arena.ofConfined()) {
                    cuda.driver.launch(dqConvert, "attention_backward_dq", blocks, 1, 1, 256, 1, 1, 0, cuda.stream,
                            module.args(arena, "attention_backward_dq", dqAccum, dq.pointer(), count, scale));
                }
            });
            return new DeviceTensor[] {dq, kv[0], kv[1]};
        } catch (RuntimeException e) {
            dq.close();
            throw e;
        }
    }

    /**
     * Writes the backward's dQ ([tokens, heads * headDim]) from its F32 accumulator, whose elements times scale are
     * dQ: a conversion to BF16, or one that also turns dQ back through the rotary embedding (CudaModelOps).
     */
    @FunctionalInterface
    interface DqWriter {
        void write(long dqAccum, float scale);
    }

    /**
     * The backward with dQ handed to dqWriter as its F32 accumulator, queued after the kernels that sum it; returns
     * {dk, dv}, each BF16 in its input's shape.
     */
    DeviceTensor[] backward(DeviceTensor dOut, DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor out,
            DeviceTensor lse, AttentionShape s, DqWriter dqWriter) {
        int qCols = s.heads() * s.headDim();
        int kvCols = s.kvHeads() * s.headDim();
        check(s, bf16("q", q, s.tokens(), qCols), bf16("k", k, s.tokens(), kvCols), bf16("v", v, s.tokens(), kvCols),
                bf16("dOut", dOut, s.tokens(), qCols), bf16("out", out, s.tokens(), qCols),
                new Operand("lse", lse, DType.F32, s.batch() * s.heads(), s.seq()));
        float scale = (float) (1.0 / Math.sqrt(s.headDim()));
        DeviceTensor[] grads = new DeviceTensor[2];
        try (Arena arena = Arena.ofConfined();
                DeviceBuffer rowDots = cuda.allocator.allocate(4L * s.batch() * s.heads() * s.seq());
                DeviceBuffer dqAccum = cuda.allocator.allocate(4L * s.tokens() * qCols)) {
            grads[0] = allocate(s.tokens(), kvCols, DType.BF16);
            grads[1] = allocate(s.tokens(), kvCols, DType.BF16);
            long items = (long) s.tokens() * s.heads();
            // 8 warps a block, DELTA_WARP_ITEMS (attention.cu) items a warp
            cuda.driver.launch(delta, "attention_backward_delta", (int) ceilDiv(items, 8L * DELTA_WARP_ITEMS), 1, 1,
                    256, 1, 1, 0, cuda.stream, module.args(arena, "attention_backward_delta", dOut.pointer(),
                            out.pointer(), rowDots.pointer(), s.tokens(), s.seq(), s.heads(), s.headDim()));
            long dqCount = (long) s.tokens() * qCols;
            cuda.driver.memset32(dqAccum.pointer(), 0, dqCount, cuda.stream);
            if (onHopper(s)) {
                String kernel = "attention_backward_sm90_ws_d128";
                MemorySegment dqMap = tensorMap(arena, "dqAccum", dqAccum.pointer(), CudaDriver.TENSOR_MAP_F32, 4, s,
                        s.heads(), F32_BOX);
                cuda.driver.launch(hopper.function(kernel), kernel,
                        s.batch() * s.kvHeads() * ceilDiv(s.seq(), HOPPER_BACKWARD_KEYS), 1, 1,
                        HOPPER_BACKWARD_THREADS, 1, 1, HOPPER_BACKWARD_SHARED_BYTES, cuda.stream,
                        hopper.args(arena, kernel, bf16Map(arena, "q", q, s, s.heads()),
                                bf16Map(arena, "k", k, s, s.kvHeads()), bf16Map(arena, "v", v, s, s.kvHeads()),
                                bf16Map(arena, "dOut", dOut, s, s.heads()), lse.pointer(), rowDots.pointer(), dqMap,
                                grads[0].pointer(), grads[1].pointer(), s.seq(), s.heads(), s.kvHeads(), scale,
                                s.batch(), hopperBands[1]));
            } else {
                cuda.driver.launch(s.headDim() == 64 ? backward64 : backward128, "attention_backward",
                        s.batch() * s.kvHeads(), ceilDiv(s.seq(), BACKWARD_KEYS), 1, BACKWARD_THREADS, 1, 1,
                        backwardSharedBytes(s.headDim()), cuda.stream,
                        module.args(arena, "attention_backward_d" + s.headDim(), q.pointer(), k.pointer(), v.pointer(),
                                dOut.pointer(), lse.pointer(), rowDots.pointer(), dqAccum.pointer(), grads[0].pointer(),
                                grads[1].pointer(), s.seq(), s.heads(), s.kvHeads(), scale));
            }
            dqWriter.write(dqAccum.pointer(), scale);
            // The scratch buffers go back to the allocator now: the stream runs in order, so a later user
            // of the same blocks runs after these kernels.
            return grads;
        } catch (RuntimeException e) {
            for (DeviceTensor g : grads) {
                if (g != null) {
                    g.close();
                }
            }
            throw e;
        }
    }

    /**
     * The TMA descriptor of a [batch * seq, heads * 128] BF16 tensor as the kernels load it: three dimensions
     * (column, token of the sequence, sequence), boxes of 64 columns by 64 tokens landing 128-byte swizzled, so a
     * tile past the sequence's end reads zeros rather than the next sequence.
     */
    private MemorySegment bf16Map(Arena arena, String name, DeviceTensor t, AttentionShape s, int heads) {
        return tensorMap(arena, name, t.pointer(), CudaDriver.TENSOR_MAP_BF16, 2, s, heads, BF16_BOX);
    }

    /**
     * The TMA descriptor of a [batch * seq, heads * 128] tensor of elementBytes-byte elements at address. TMA needs
     * 16-byte aligned addresses, which device buffers are (views only reshape them); anything else is refused by name.
     */
    private MemorySegment tensorMap(Arena arena, String name, long address, int dataType, int elementBytes,
            AttentionShape s, int heads, int[] box) {
        if (address % 16 != 0) {
            throw new IllegalArgumentException("CUDA attention on Hopper loads " + name + " by TMA, which needs a"
                    + " 16-byte aligned address; got 0x" + Long.toHexString(address));
        }
        long rowBytes = heads * 128L * elementBytes;
        return cuda.driver.encodeTensorMap(arena, dataType, address, new long[] {heads * 128L, s.seq(), s.batch()},
                new long[] {rowBytes, rowBytes * s.seq()}, box, CudaDriver.TENSOR_MAP_SWIZZLE_128B);
    }

    /** Whether s runs on attention_sm90.cu's kernels: on Hopper, for heads of 128. */
    private boolean onHopper(AttentionShape s) {
        return hopper != null && s.headDim() == 128;
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}
