package dev.float8j.runtime.cuda;

import static dev.float8j.runtime.cuda.OpLaunches.dt;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.logging.Logger;

/**
 * float8j's own FP8 gemms on Hopper (gemm_sm90.cu), E4M3 x E4M3 into a new BF16 or F32 result:
 * <ul>
 * <li>{@code gemm_e4m3_sm90}: tensorwise or rowwise scales applied in the epilogue, fast accumulation. It exists for
 * rowwise, where cuBLASLt's outer-vector kernels run slower than its tensorwise ones at some of the Llama step's
 * shapes.
 * <li>{@code gemm_block_e4m3_sm90} and {@code gemm_block_tiles_e4m3_sm90} (B in 128x128 blocks, B in 1x128 tiles):
 * 1x128 or 128x128 block scales, each K block's products added into F32 sums times their scales (DeepSeek-V3's
 * promotion every 128 codes), for blockwise recipes, where cuBLASLt's block-scaled kernels run slower than its
 * tensorwise ones. On an H100 (2026-12-07, two sets of partial sums) it ran at 828-980 TFLOP/s (1x128 x 128x128) and
 * 699-806 (1x128 x 1x128) against cuBLASLt's 1,267-1,370 and 1,001-1,085, so it runs only where asked for.
 * </ul>
 * CudaGemms runs them where {@link #takes} the gemm, cuBLASLt everywhere else. {@code -Dfloat8j.cuda.ownGemm} says
 * where: {@code false} (the default) never; {@code auto} only where the first kernel measured faster than cuBLASLt,
 * rowwise gemms of at most 1,024 output columns (an H200, 2026-12-07: 0.147 against 0.243 ms at 16384 x 4096 x 1024,
 * the k and v projections; at every larger shape of the step cuBLASLt was 7-50% faster; in the rowwise step on an
 * H100 it changed nothing measurable); {@code blockwise} only the block-scaled gemms; {@code true} every gemm either
 * can take, to compare.
 */
final class HopperFp8Gemm {
    /** Where the own kernels run, as -Dfloat8j.cuda.ownGemm says (false: the class is not made). */
    private enum Mode {
        AUTO, BLOCKWISE, ALL
    }

    private static final String KERNEL = "gemm_e4m3_sm90";
    /** The block-scaled kernels, B in 128x128 blocks and B in 1x128 tiles. */
    private static final String BLOCK_KERNEL = "gemm_block_e4m3_sm90";
    private static final String BLOCK_TILES_KERNEL = "gemm_block_tiles_e4m3_sm90";
    /** gemm_sm90.cu's tile and pipeline (GEMM_BM, GEMM_BN, GEMM_BK, GEMM_STAGES, GEMM_THREADS). */
    static final int BLOCK_M = 128;
    static final int BLOCK_N = 256;
    static final int BLOCK_K = 128;
    private static final int STAGES = 4;
    private static final int THREADS = 384;
    /** The block-scaled kernel's B tile and stages (BLOCK_GEMM_BN, BLOCK_GEMM_STAGES); its other sizes are the same. */
    static final int BLOCK_SCALED_N = 128;
    private static final int BLOCK_SCALED_STAGES = 6;
    /** The stages' A and B tiles, the mbarriers, and 1024 bytes to align the tiles to the swizzle's period. */
    private static final int SHARED_BYTES = STAGES * (BLOCK_M + BLOCK_N) * BLOCK_K + 16 * STAGES + 1024;
    /** Its stages also hold B's 128 column scales where B is in 1x128 tiles (BLOCK_GEMM_SCALE_BYTES). */
    private static final int BLOCK_SCALED_SHARED_BYTES = BLOCK_SCALED_STAGES * ((BLOCK_M + BLOCK_SCALED_N) * BLOCK_K
            + 4 * BLOCK_SCALED_N) + 16 * BLOCK_SCALED_STAGES + 1024;
    /** CU_TENSOR_MAP_DATA_TYPE_UINT8: the codes as bytes. */
    private static final int TENSOR_MAP_U8 = 0;

    /** Output columns up to which {@code auto} takes rowwise gemms (see the class comment). */
    static final int AUTO_MAX_COLUMNS = 1024;

    private final CudaContext cuda;
    private final KernelModule module;
    private final MemorySegment function;
    private final MemorySegment blockFunction;
    private final MemorySegment blockTilesFunction;
    private final Mode mode;

    private HopperFp8Gemm(CudaContext cuda, Mode mode) {
        this.cuda = cuda;
        this.mode = mode;
        this.module = cuda.module("gemm_sm90.cu");
        this.function = module.function(KERNEL);
        this.blockFunction = module.function(BLOCK_KERNEL);
        this.blockTilesFunction = module.function(BLOCK_TILES_KERNEL);
        cuda.driver.setFunctionAttribute(function, CudaDriver.FUNC_ATTR_MAX_DYNAMIC_SHARED_BYTES, SHARED_BYTES);
        for (MemorySegment f : new MemorySegment[] {blockFunction, blockTilesFunction}) {
            cuda.driver.setFunctionAttribute(f, CudaDriver.FUNC_ATTR_MAX_DYNAMIC_SHARED_BYTES,
                    BLOCK_SCALED_SHARED_BYTES);
        }
    }

    /** The gemms on cuda's GPU if it is a Hopper (sm_90) and the property switches them on; else null. */
    static HopperFp8Gemm ifEnabled(CudaContext cuda) {
        String value = System.getProperty("float8j.cuda.ownGemm", "false");
        Mode mode = switch (value) {
            case "false" -> null;
            case "auto" -> Mode.AUTO;
            case "blockwise" -> Mode.BLOCKWISE;
            case "true" -> Mode.ALL;
            default -> throw new IllegalArgumentException(
                    "float8j.cuda.ownGemm is auto, blockwise, true or false; got '" + value + "'");
        };
        if (cuda.computeCapability != 90 || mode == null) {
            return null;
        }
        if (mode == Mode.AUTO) {
            try {
                return new HopperFp8Gemm(cuda, mode);
            } catch (CudaException e) {
                // auto is an optimization: without the kernels every gemm runs on cuBLASLt, as it says
                Logger.getLogger("dev.float8j").warning("float8j: gemm_sm90.cu did not load (" + e.getMessage()
                        + "); every FP8 gemm runs on cuBLASLt");
                return null;
            }
        }
        return new HopperFp8Gemm(cuda, mode);
    }

    /**
     * Whether one of these kernels computes the gemm of a and b into d: both E4M3, nothing added (no accumulation into
     * d, no bias, no addend), d of A's free length by B's, F32 or BF16; then either both tensorwise or rowwise with
     * fast accumulation asked for (the tensor cores' own accumulation over all of K is what that kernel does; under
     * {@code auto} only rowwise gemms of at most {@link #AUTO_MAX_COLUMNS} columns), or both in 1x128 tiles or 128x128
     * blocks (under {@code blockwise} or {@code true}; promoted every 128 codes, so with or without fast accumulation).
     */
    boolean takes(DeviceFloat8 a, DeviceFloat8 b, DeviceTensor d, boolean fastAccum, boolean adds) {
        boolean can = !adds && isE4m3(a) && isE4m3(b) && d.rows() == a.free() && d.cols() == b.free()
                && (d.dtype() == DType.BF16 || d.dtype() == DType.F32);
        if (!can) {
            return false;
        }
        if (isBlockScaled(a) && isBlockScaled(b)) {
            return mode != Mode.AUTO;
        }
        if (!fastAccum || !isScaled(a) || !isScaled(b)) {
            return false;
        }
        return mode == Mode.ALL || mode == Mode.AUTO && b.spec().granularity() == ScalingGranularity.ROWWISE
                && a.spec().granularity() == ScalingGranularity.ROWWISE && b.free() <= AUTO_MAX_COLUMNS;
    }

    private static boolean isE4m3(DeviceFloat8 x) {
        return x.spec().format() == Fp8Format.E4M3FN;
    }

    private static boolean isScaled(DeviceFloat8 x) {
        ScalingGranularity g = x.spec().granularity();
        return g == ScalingGranularity.TENSORWISE || g == ScalingGranularity.ROWWISE;
    }

    private static boolean isBlockScaled(DeviceFloat8 x) {
        ScalingGranularity g = x.spec().granularity();
        return g == ScalingGranularity.TILE_1X128 || g == ScalingGranularity.BLOCK_128X128;
    }

    /** d = (a's scales x b's scales) (A Bᵀ), on the context's stream; see {@link #takes}. */
    void run(DeviceFloat8 a, DeviceFloat8 b, DeviceTensor d) {
        int m = a.free();
        int n = b.free();
        int k = a.depth();
        boolean blocks = isBlockScaled(a);
        int tileColumns = blocks ? BLOCK_SCALED_N : BLOCK_N;
        int tiles = DeviceFloat8.ceilDiv(m, BLOCK_M) * DeviceFloat8.ceilDiv(n, tileColumns);
        // one block per multiprocessor (the shared memory takes a whole one), each looping over tiles
        int grid = Math.min(tiles, cuda.multiprocessors);
        int outType = dt(d.dtype());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment aMap = codesMap(arena, a, BLOCK_M);
            MemorySegment bMap = codesMap(arena, b, tileColumns);
            if (blocks) {
                boolean bTiles = b.spec().granularity() == ScalingGranularity.TILE_1X128;
                String kernel = bTiles ? BLOCK_TILES_KERNEL : BLOCK_KERNEL;
                cuda.driver.launch(bTiles ? blockTilesFunction : blockFunction, kernel, grid, 1, 1, THREADS, 1, 1,
                        BLOCK_SCALED_SHARED_BYTES, cuda.stream, module.args(arena, kernel, aMap, bMap,
                                a.inverseScales().pointer(), blockKind(a), a.ldScale(), b.inverseScales().pointer(),
                                b.ldScale(), d.pointer(), outType, m, n, k));
            } else {
                cuda.driver.launch(function, KERNEL, grid, 1, 1, THREADS, 1, 1, SHARED_BYTES, cuda.stream,
                        module.args(arena, KERNEL, aMap, bMap, a.inverseScales().pointer(), perRow(a),
                                b.inverseScales().pointer(), perRow(b), d.pointer(), outType, m, n, k));
            }
        }
    }

    private static int perRow(DeviceFloat8 x) {
        return x.spec().granularity() == ScalingGranularity.ROWWISE ? 1 : 0;
    }

    /** The block-scaled kernels' scale kinds of A: 0 for 1x128 tiles, 1 for 128x128 blocks (DeviceFloat8's layouts). */
    private static int blockKind(DeviceFloat8 x) {
        return x.spec().granularity() == ScalingGranularity.BLOCK_128X128 ? 1 : 0;
    }

    /**
     * The TMA descriptor of x's codes as the kernels load them: rank 2, {the summed length, the free length} bytes,
     * rows ld bytes apart, boxes of BLOCK_K codes by boxRows rows landing 128-byte swizzled; past either end TMA
     * reads zeros. Device buffers are 16-byte aligned and ld a multiple of 16, as TMA needs.
     */
    private MemorySegment codesMap(Arena arena, DeviceFloat8 x, int boxRows) {
        return cuda.driver.encodeTensorMap(arena, TENSOR_MAP_U8, x.codes().pointer(),
                new long[] {x.depth(), x.free()}, new long[] {x.ld()}, new int[] {BLOCK_K, boxRows},
                CudaDriver.TENSOR_MAP_SWIZZLE_128B);
    }
}
