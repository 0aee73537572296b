package dev.float8j.runtime.cuda;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.logging.Logger;

/**
 * float8j's own FP8 gemm on Hopper (gemm_sm90.cu): E4M3 x E4M3 with tensorwise or rowwise scales applied in the
 * epilogue, fast accumulation, into a new BF16 or F32 result. It exists for rowwise, where cuBLASLt's outer-vector
 * kernels run slower than its tensorwise ones at some of the Llama step's shapes. CudaGemms runs it where
 * {@link #takes} the gemm, cuBLASLt everywhere else. {@code -Dfloat8j.cuda.ownGemm} says where: {@code false} (the
 * default) never; {@code auto} only where its first form measured faster than cuBLASLt, rowwise gemms of at most
 * 1,024 output columns (an H200, 2026-12-07: 0.147 against 0.243 ms at 16384 x 4096 x 1024, the k and v projections;
 * at every larger shape of the step cuBLASLt was 7-50% faster; in the rowwise step on an H100 it changed nothing
 * measurable); {@code true} every gemm it can take, to compare. It stays off by default until its present form, which
 * loops over tiles, has run on a GPU.
 */
final class HopperFp8Gemm {
    private static final String KERNEL = "gemm_e4m3_sm90";
    /** gemm_sm90.cu's tile and pipeline (GEMM_BM, GEMM_BN, GEMM_BK, GEMM_STAGES, GEMM_THREADS). */
    static final int BLOCK_M = 128;
    static final int BLOCK_N = 256;
    static final int BLOCK_K = 128;
    private static final int STAGES = 4;
    private static final int THREADS = 384;
    /** The stages' A and B tiles, the mbarriers, and 1024 bytes to align the tiles to the swizzle's period. */
    private static final int SHARED_BYTES = STAGES * (BLOCK_M + BLOCK_N) * BLOCK_K + 16 * STAGES + 1024;
    /** CU_TENSOR_MAP_DATA_TYPE_UINT8: the codes as bytes. */
    private static final int TENSOR_MAP_U8 = 0;

    /** Output columns up to which {@code auto} takes rowwise gemms (see the class comment). */
    static final int AUTO_MAX_COLUMNS = 1024;

    private final CudaContext cuda;
    private final KernelModule module;
    private final MemorySegment function;
    /** Whether it takes every gemm it can ({@code true}) or only where it measured faster ({@code auto}). */
    private final boolean everywhere;

    private HopperFp8Gemm(CudaContext cuda, boolean everywhere) {
        this.cuda = cuda;
        this.everywhere = everywhere;
        this.module = cuda.module("gemm_sm90.cu");
        this.function = module.function(KERNEL);
        cuda.driver.setFunctionAttribute(function, CudaDriver.FUNC_ATTR_MAX_DYNAMIC_SHARED_BYTES, SHARED_BYTES);
    }

    /** The gemm on cuda's GPU if it is a Hopper (sm_90) and the property switches it on; else null. */
    static HopperFp8Gemm ifEnabled(CudaContext cuda) {
        String mode = System.getProperty("float8j.cuda.ownGemm", "false");
        if (!mode.equals("auto") && !mode.equals("true") && !mode.equals("false")) {
            throw new IllegalArgumentException("float8j.cuda.ownGemm is auto, true or false; got '" + mode + "'");
        }
        if (cuda.computeCapability != 90 || mode.equals("false")) {
            return null;
        }
        if (mode.equals("true")) {
            return new HopperFp8Gemm(cuda, true);
        }
        try {
            return new HopperFp8Gemm(cuda, false);
        } catch (CudaException e) {
            // auto is an optimization: without the kernel every gemm runs on cuBLASLt, as it says
            Logger.getLogger("dev.float8j").warning("float8j: gemm_sm90.cu did not load (" + e.getMessage()
                    + "); every FP8 gemm runs on cuBLASLt");
            return null;
        }
    }

    /**
     * Whether this kernel computes the gemm of a and b into d: both E4M3 with tensorwise or rowwise scales, fast
     * accumulation asked for (the tensor cores' own accumulation is what it does), nothing added (no accumulation into
     * d, no bias, no addend), and d of A's free length by B's, F32 or BF16; under {@code auto} only rowwise gemms of
     * at most {@link #AUTO_MAX_COLUMNS} columns.
     */
    boolean takes(DeviceFloat8 a, DeviceFloat8 b, DeviceTensor d, boolean fastAccum, boolean adds) {
        boolean can = fastAccum && !adds && isScaledE4m3(a) && isScaledE4m3(b) && d.rows() == a.free()
                && d.cols() == b.free() && (d.dtype() == DType.BF16 || d.dtype() == DType.F32);
        return can && (everywhere || b.spec().granularity() == ScalingGranularity.ROWWISE
                && a.spec().granularity() == ScalingGranularity.ROWWISE && b.free() <= AUTO_MAX_COLUMNS);
    }

    private static boolean isScaledE4m3(DeviceFloat8 x) {
        ScalingGranularity g = x.spec().granularity();
        return x.spec().format() == Fp8Format.E4M3FN
                && (g == ScalingGranularity.TENSORWISE || g == ScalingGranularity.ROWWISE);
    }

    /** d = (a's scales x b's scales) (A Bᵀ), on the context's stream; see {@link #takes}. */
    void run(DeviceFloat8 a, DeviceFloat8 b, DeviceTensor d) {
        int m = a.free();
        int n = b.free();
        int k = a.depth();
        int tiles = DeviceFloat8.ceilDiv(m, BLOCK_M) * DeviceFloat8.ceilDiv(n, BLOCK_N);
        // one block per multiprocessor (the shared memory takes a whole one), each looping over tiles
        int blocks = Math.min(tiles, cuda.multiprocessors);
        try (Arena arena = Arena.ofConfined()) {
            cuda.driver.launch(function, KERNEL, blocks, 1, 1, THREADS, 1, 1, SHARED_BYTES, cuda.stream,
                    module.args(arena, KERNEL, codesMap(arena, a, BLOCK_M), codesMap(arena, b, BLOCK_N),
                            a.inverseScales().pointer(), perRow(a), b.inverseScales().pointer(), perRow(b),
                            d.pointer(), d.dtype() == DType.F32 ? 0 : 1, m, n, k));
        }
    }

    private static int perRow(DeviceFloat8 x) {
        return x.spec().granularity() == ScalingGranularity.ROWWISE ? 1 : 0;
    }

    /**
     * The TMA descriptor of x's codes as the kernel loads them: rank 2, {the summed length, the free length} bytes,
     * rows ld bytes apart, boxes of BLOCK_K codes by boxRows rows landing 128-byte swizzled; past either end TMA
     * reads zeros. Device buffers are 16-byte aligned and ld a multiple of 16, as TMA needs.
     */
    private MemorySegment codesMap(Arena arena, DeviceFloat8 x, int boxRows) {
        return cuda.driver.encodeTensorMap(arena, TENSOR_MAP_U8, x.codes().pointer(),
                new long[] {x.depth(), x.free()}, new long[] {x.ld()}, new int[] {BLOCK_K, boxRows},
                CudaDriver.TENSOR_MAP_SWIZZLE_128B);
    }
}
