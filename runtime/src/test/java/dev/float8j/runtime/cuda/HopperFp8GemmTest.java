package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.ReferenceBackend;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * float8j's own FP8 gemm on Hopper (gemm_sm90.cu; -Dfloat8j.cuda.ownGemm=true runs it wherever it can) against the
 * reference's F32 gemm of the same codes and against cuBLASLt's fast-accumulation gemm, tensorwise and rowwise, BF16
 * and F32 results, on whole tiles and on lengths that leave part-filled tiles along every axis (K not a multiple of
 * the 128-code stage); the block-scaled kernel against both for 1x128 tiles and 128x128 blocks; and auto taking only
 * the rowwise gemms of at most 1,024 columns, blockwise only the block-scaled ones. Skips without a GPU, and on GPUs
 * other than Hopper.
 */
class HopperFp8GemmTest {
    private final ReferenceBackend reference = new ReferenceBackend();

    /** A backend made with -Dfloat8j.cuda.ownGemm=mode. */
    private static CudaBackend withOwnGemm(String mode) {
        String before = System.getProperty("float8j.cuda.ownGemm");
        System.setProperty("float8j.cuda.ownGemm", mode);
        try {
            return CudaBackend.create();
        } finally {
            if (before == null) {
                System.clearProperty("float8j.cuda.ownGemm");
            } else {
                System.setProperty("float8j.cuda.ownGemm", before);
            }
        }
    }

    private static void requireHopper() {
        TestGpu.require();
        assumeTrue(CudaContext.get().computeCapability == 90, "float8j's own FP8 gemm is for Hopper (sm_90)");
    }

    @Test
    void ownGemmMatchesTheReferenceAndCublasLt() {
        requireHopper();
        CudaBackend cublas = withOwnGemm("false");
        CudaBackend own = withOwnGemm("true");
        // the last has 16 x 17 tiles, more than any Hopper's multiprocessors: blocks loop over several tiles each
        int[][] shapes = {{256, 512, 512}, {272, 400, 528}, {16, 4096, 16}, {384, 1024, 768}, {2048, 256, 4352}};
        for (int[] shape : shapes) {
            for (Float8Plan plan : List.of(Float8Plan.tensorwise(), Float8Plan.rowwise())) {
                assertOwnMatches(own, cublas, shape, plan.output().first(), plan.output().second(), true,
                        "gemm_e4m3_sm90");
            }
        }
    }

    /**
     * own's gemm of x (m x k) and w (n x k), Gaussian, quantized by xSpec and wSpec, into F32 and BF16: the kernel
     * named ran, and the result is within fast accumulation's bound (CudaFastAccumulationTest's) of the reference's F32
     * gemm of the same codes and of cuBLASLt's.
     */
    private void assertOwnMatches(CudaBackend own, CudaBackend cublas, int[] shape, QuantSpec xSpec, QuantSpec wSpec,
            boolean fastAccum, String kernel) {
        int m = shape[0];
        int k = shape[1];
        int n = shape[2];
        Tensor x = GaussianTensors.gaussian(1 + m, 1f, DType.F32, m, k);
        Tensor w = GaussianTensors.gaussian(2 + n, 0.05f, DType.F32, n, k);
        Tensor expected = reference.gemm(reference.quantize(x, xSpec), reference.quantize(w, wSpec), DType.F32);
        Float8Tensor xq = own.quantize(own.toDevice(x), xSpec);
        Float8Tensor wq = own.quantize(own.toDevice(w), wSpec);
        Float8Tensor xc = cublas.quantize(cublas.toDevice(x), xSpec);
        Float8Tensor wc = cublas.quantize(cublas.toDevice(w), wSpec);
        for (DType out : DType.values()) {
            String what = xSpec.granularity() + " x " + wSpec.granularity() + " " + m + "x" + k + "x" + n + " into "
                    + out;
            own.startKernelTimes();
            Tensor mine = own.toHost(own.gemm(xq, wq, null, out, null, fastAccum));
            String kernels = own.stopKernelTimes().table(10);
            assertTrue(kernels.contains(kernel), what + ": not " + kernel + ":\n" + kernels);
            Tensor theirs = cublas.toHost(cublas.gemm(xc, wc, null, out, null, fastAccum));
            assertEquals(out, mine.dtype(), what);
            double error = MaxRelativeError.of(expected, mine.to(DType.F32));
            assertTrue(error < 1e-2, what + ": relative error " + error + " against the reference");
            double againstCublas = MaxRelativeError.of(theirs.to(DType.F32), mine.to(DType.F32));
            assertTrue(againstCublas < 1e-2, what + ": relative error " + againstCublas + " against cuBLASLt");
        }
    }

    /** Under auto a rowwise gemm of 528 columns takes the own kernel, a tensorwise one and a wider rowwise one not. */
    @Test
    void autoTakesOnlyNarrowRowwiseGemms() {
        requireHopper();
        CudaBackend auto = withOwnGemm("auto");
        Tensor x = GaussianTensors.gaussian(5, 1f, DType.F32, 256, 512);
        int[] widths = {528, 1040};
        for (Float8Plan plan : List.of(Float8Plan.rowwise(), Float8Plan.tensorwise())) {
            for (int n : widths) {
                Tensor w = GaussianTensors.gaussian(6, 0.05f, DType.F32, n, 512);
                Float8Tensor xq = auto.quantize(auto.toDevice(x), plan.output().first());
                Float8Tensor wq = auto.quantize(auto.toDevice(w), plan.output().second());
                auto.startKernelTimes();
                auto.release(auto.gemm(xq, wq, null, DType.BF16, null, true));
                String kernels = auto.stopKernelTimes().table(10);
                boolean own = plan.equals(Float8Plan.rowwise()) && n <= HopperFp8Gemm.AUTO_MAX_COLUMNS;
                assertEquals(own, kernels.contains("gemm_e4m3_sm90"), plan + ", " + n + " columns:\n" + kernels);
            }
        }
    }

    /**
     * The block-scaled kernel, for each pair of scales cuBLASLt also takes: 1x128 x 128x128 (the output gemm's x and
     * W), 1x128 x 1x128 (grad_weight's), 128x128 x 1x128. The reference and cuBLASLt sum in F32 throughout; the kernel
     * adds each K block's products in the tensor core's narrower accumulator first, as fast accumulation does over 128
     * codes, hence fast accumulation's bound.
     */
    @Test
    void blockScaledGemmMatchesTheReferenceAndCublasLt() {
        requireHopper();
        CudaBackend cublas = withOwnGemm("false");
        CudaBackend own = withOwnGemm("blockwise");
        ScalingGranularity tiles = ScalingGranularity.TILE_1X128;
        ScalingGranularity blocks = ScalingGranularity.BLOCK_128X128;
        ScalingGranularity[][] pairs = {{tiles, blocks}, {tiles, tiles}, {blocks, tiles}};
        // the shapes of the test above, and 400 codes of K (three whole K blocks and a part-filled one); the kernel
        // alternates two sets of partial sums over the K blocks, so odd counts too: one block, three, and five over
        // more tiles than the grid has blocks (each block takes several, carrying its stage count across them)
        int[][] shapes = {{256, 512, 512}, {272, 400, 528}, {16, 4096, 16}, {2048, 256, 4352}, {128, 128, 256},
            {384, 384, 640}, {2048, 640, 4352}};
        for (int[] shape : shapes) {
            for (ScalingGranularity[] pair : pairs) {
                // B's scale kind picks the kernel
                String kernel = pair[1] == tiles ? "gemm_block_tiles_e4m3_sm90" : "gemm_block_e4m3_sm90";
                assertOwnMatches(own, cublas, shape, QuantSpec.of(Fp8Format.E4M3FN, pair[0], 1),
                        QuantSpec.of(Fp8Format.E4M3FN, pair[1], 1), false, kernel);
            }
        }
    }

    /** Under blockwise a 1x128 x 128x128 gemm takes the block-scaled kernel, a rowwise one cuBLASLt. */
    @Test
    void blockwiseTakesOnlyBlockScaledGemms() {
        requireHopper();
        CudaBackend blockwise = withOwnGemm("blockwise");
        Tensor x = GaussianTensors.gaussian(5, 1f, DType.F32, 256, 512);
        Tensor w = GaussianTensors.gaussian(6, 0.05f, DType.F32, 528, 512);
        for (Float8Plan plan : List.of(Float8Plan.blockwise(), Float8Plan.rowwise())) {
            Float8Tensor xq = blockwise.quantize(blockwise.toDevice(x), plan.output().first());
            Float8Tensor wq = blockwise.quantize(blockwise.toDevice(w), plan.output().second());
            blockwise.startKernelTimes();
            blockwise.release(blockwise.gemm(xq, wq, null, DType.BF16, null, true));
            String kernels = blockwise.stopKernelTimes().table(10);
            boolean own = plan.equals(Float8Plan.blockwise());
            assertEquals(own, kernels.contains("gemm_block_"), plan + ":\n" + kernels);
            assertTrue(!kernels.contains("gemm_e4m3_sm90"), plan + ":\n" + kernels);
        }
    }
}
