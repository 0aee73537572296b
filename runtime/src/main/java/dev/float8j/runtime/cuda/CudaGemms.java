package dev.float8j.runtime.cuda;

import static dev.float8j.runtime.cuda.DeviceFloat8.blockScaleStride;
import static dev.float8j.runtime.cuda.DeviceFloat8.ceilDiv;
import static dev.float8j.runtime.cuda.DeviceFloat8.roundUp;
import static dev.float8j.runtime.cuda.OpLaunches.dt;

import dev.float8j.runtime.DType;
import dev.float8j.plan.Fp8Format;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.plan.ScalingGranularity;
import java.lang.foreign.Arena;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Gemms through cuBLASLt: the scaled FP8 gemm on device copies, the high-precision matmul, and the host API's
 * padded FP8 gemm; with the tables from float8j's granularities to cuBLASLt's scale modes and the layouts
 * cuBLASLt reads. A device gemm may add a bias and an addend (cuBLASLt's BIAS epilogue and C, else elementwise.cu's
 * epilogue_add), and the bias's gradient, the column sums of dY, is computed here too (elementwise.cu's column_sums).
 */
final class CudaGemms {
    private final CudaContext cuda;
    private final DeviceMemory memory;
    private final CudaCasts casts;
    /** Shapes whose bias (F32) or C epilogue cuBLASLt refused: they take the epilogue_add kernel instead. */
    private final Set<CublasLt.Shape> refusedEpilogues = ConcurrentHashMap.newKeySet();
    /** float8j's own FP8 gemm on Hopper where -Dfloat8j.cuda.ownGemm switches it on, else null (HopperFp8Gemm). */
    private final HopperFp8Gemm ownGemm;

    CudaGemms(CudaContext cuda, DeviceMemory memory, CudaCasts casts) {
        this.cuda = cuda;
        this.memory = memory;
        this.casts = casts;
        this.ownGemm = HopperFp8Gemm.ifEnabled(cuda);
    }


    private static int ltType(Fp8Format f) {
        return f == Fp8Format.E4M3FN ? CublasLt.CUDA_R_8F_E4M3 : CublasLt.CUDA_R_8F_E5M2;
    }

    private static int ltType(DType d) {
        return d == DType.F32 ? CublasLt.CUDA_R_32F : CublasLt.CUDA_R_16BF;
    }

    /** The cuBLASLt scale mode a device tensor's scales are laid out for. */
    private static int ltMode(ScalingGranularity g) {
        return switch (g) {
            case TENSORWISE -> CublasLt.SCALE_SCALAR_32F;
            case ROWWISE -> CublasLt.SCALE_OUTER_VEC_32F;
            case TILE_1X128 -> CublasLt.SCALE_VEC128_32F;
            case BLOCK_128X128 -> CublasLt.SCALE_BLK128X128_32F;
            case MX_1X32 -> throw new UnsupportedOperationException(
                    "cuBLASLt on this GPU has no 1x32 FP32-scale gemm; dequantize MX tensors or use the host API");
        };
    }

    private static boolean pairSupported(int aMode, int bMode) {
        boolean blockish = (aMode == CublasLt.SCALE_VEC128_32F || aMode == CublasLt.SCALE_BLK128X128_32F)
                && (bMode == CublasLt.SCALE_VEC128_32F || bMode == CublasLt.SCALE_BLK128X128_32F);
        return aMode == bMode && aMode != CublasLt.SCALE_BLK128X128_32F || blockish && aMode + bMode
                != 2 * CublasLt.SCALE_BLK128X128_32F;
    }

    /**
     * The scaled FP8 gemm C = A·Bᵀ under the axis convention, on the GPU: [A's free length] x [B's free length].
     * Free and summed lengths must be multiples of 16 here (the host API pads). fastAccum lets cuBLASLt
     * accumulate in the tensor cores' reduced precision (tensorwise and rowwise only).
     */
    DeviceTensor gemm(DeviceFloat8 a, DeviceFloat8 b, DType out, boolean fastAccum) {
        return gemm(a, b, null, out, fastAccum);
    }

    /**
     * {@link #gemm(DeviceFloat8, DeviceFloat8, DType, boolean)} plus bias (F32, one element per column of the
     * result; null for none), which cuBLASLt's BIAS epilogue adds to the F32 accumulator before the result is written
     * in out (see {@link #withAddends} for shapes whose epilogue takes no F32 bias).
     */
    DeviceTensor gemm(DeviceFloat8 a, DeviceFloat8 b, DeviceTensor bias, DType out, boolean fastAccum) {
        return gemm(a, b, bias, out, fastAccum, null);
    }

    /**
     * {@link #gemm(DeviceFloat8, DeviceFloat8, DeviceTensor, DType, boolean)} plus addend (the result's shape and
     * dtype out; null for none), which cuBLASLt reads as C and adds to the F32 accumulator before the one rounding to
     * out, so a residual connection or a sum of gradients costs no add kernel. addend stays the caller's.
     */
    DeviceTensor gemm(DeviceFloat8 a, DeviceFloat8 b, DeviceTensor bias, DType out, boolean fastAccum,
            DeviceTensor addend) {
        if (bias != null) {
            checkBias(bias, b.free());
        }
        if (addend != null) {
            checkAddend(addend, a.free(), b.free(), out);
        }
        DeviceTensor d = memory.allocate(a.free(), b.free(), out);
        try {
            runGemm(a, b, d, fastAccum, false, bias, addend);
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
        return d;
    }

    /**
     * d += A·Bᵀ under the axis convention, on the GPU, accumulated by cuBLASLt itself (beta = 1), or d = A·Bᵀ when
     * overwrite; d is F32, or BF16 (a gradient kept in BF16: the sum is made in F32 and rounded once).
     */
    public void gemmAccumulate(DeviceTensor d, DeviceFloat8 a, DeviceFloat8 b, boolean overwrite) {
        if (d.rows() != a.free() || d.cols() != b.free()) {
            throw new IllegalArgumentException("cannot accumulate the gemm of " + a + " and " + b + " (" + a.free() + "x"
                    + b.free() + ") into " + d + ": needs a target of that shape");
        }
        runGemm(a, b, d, false, !overwrite, null, null);
    }

    private void runGemm(DeviceFloat8 a, DeviceFloat8 b, DeviceTensor d, boolean fastAccum, boolean accumulate,
            DeviceTensor bias, DeviceTensor addend) {
        if (a.depth() != b.depth()) {
            throw new IllegalArgumentException("gemm: " + a + " sums over " + a.depth() + " elements, " + b + " over "
                    + b.depth());
        }
        if (a.free() % 16 != 0 || b.free() % 16 != 0 || a.depth() % 16 != 0) {
            throw new IllegalArgumentException("device gemm of " + a + " and " + b
                    + " needs free and summed lengths that are multiples of 16 (cuBLASLt FP8); the host API pads");
        }
        int aMode = ltMode(b.spec().granularity());
        int bMode = ltMode(a.spec().granularity());
        if (!pairSupported(aMode, bMode)) {
            throw new IllegalArgumentException("cuBLASLt has no FP8 gemm for " + a.spec().granularity() + " x "
                    + b.spec().granularity() + " scales on the device; the host API expands scales to 1x128 form");
        }
        boolean fast = fastAccum && (aMode == CublasLt.SCALE_SCALAR_32F || aMode == CublasLt.SCALE_OUTER_VEC_32F);
        if (ownGemm != null && ownGemm.takes(a, b, d, fast, accumulate || bias != null || addend != null)) {
            ownGemm.run(a, b, d);
            return;
        }
        CublasLt.Shape shape = new CublasLt.Shape(b.free(), a.free(), a.depth(), ltType(b.spec().format()),
                ltType(a.spec().format()), ltType(d.dtype()), CublasLt.OP_T, CublasLt.OP_N, b.ld(), a.ld(), aMode, bMode,
                fast, accumulate);
        withAddends(shape, d, bias, addend, (s, target, biasPointer, c) -> cuda.lt.matmul(s, b.codes().pointer(),
                a.codes().pointer(), c, target.pointer(), b.inverseScales().pointer(), a.inverseScales().pointer(),
                biasPointer, cuda.stream));
    }

    /**
     * One cuBLASLt call of a gemm: shape (with or without a bias epilogue and C), its output, the bias pointer (or 0)
     * and C's (the output's when the shape adds no C).
     */
    @FunctionalInterface
    private interface GemmCall {
        void run(CublasLt.Shape shape, DeviceTensor d, long biasPointer, long c);
    }

    /**
     * Runs a gemm of plain's shape into d (plus d itself where plain accumulates) with bias[j] added to every row of
     * d and addend (d's shape and dtype) to d, in F32 before d is rounded; either may be null. Both go into
     * cuBLASLt's epilogue where cuBLASLt has a kernel for them: the BIAS epilogue with BIAS_DATA_TYPE = F32, and
     * the addend as C with beta = 1. cuBLASLt's documentation lets FP8 kernels take only a BF16 bias, so where it
     * refuses (remembered per shape) the gemm writes F32 and the epilogue_add kernel adds the bias and the addend and
     * rounds once. Both give the same numbers.
     */
    private void withAddends(CublasLt.Shape plain, DeviceTensor d, DeviceTensor bias, DeviceTensor addend,
            GemmCall call) {
        if (bias == null && addend == null) {
            call.run(plain, d, 0, d.pointer());
            return;
        }
        if (plain.accumulate()) {
            throw new IllegalArgumentException("a gemm that accumulates into its output takes no bias or addend");
        }
        CublasLt.Shape fused = bias == null ? plain : plain.withBias(CublasLt.CUDA_R_32F);
        fused = addend == null ? fused : fused.withAccumulate();
        if (!refusedEpilogues.contains(fused)) {
            try {
                call.run(fused, d, bias == null ? 0 : bias.pointer(), addend == null ? d.pointer() : addend.pointer());
                return;
            } catch (CudaException e) {
                refusedEpilogues.add(fused);
            }
        }
        DeviceTensor f32 = d.dtype() == DType.F32 ? d : memory.allocate(d.rows(), d.cols(), DType.F32);
        try {
            call.run(plain.withOutput(CublasLt.CUDA_R_32F), f32, 0, f32.pointer());
            epilogueAdd(f32, bias, addend, d);
        } finally {
            if (f32 != d) {
                f32.close();
            }
        }
    }

    /** out = f32 + bias[c] + addend[r][c] (either may be null), rounded once to out's dtype; out may be f32. */
    private void epilogueAdd(DeviceTensor f32, DeviceTensor bias, DeviceTensor addend, DeviceTensor out) {
        try (Arena arena = Arena.ofConfined()) {
            long n = (long) out.rows() * out.cols();
            KernelModule elementwise = cuda.module("elementwise.cu");
            cuda.driver.launch(elementwise.function("epilogue_add"), "epilogue_add",
                    (int) Math.min(4096, (n + 255) / 256), 1, 1, 256, 1, 1, 0, cuda.stream,
                    elementwise.args(arena, "epilogue_add", f32.pointer(), bias == null ? 0L : bias.pointer(),
                            addend == null ? 0L : addend.pointer(), (long) out.rows(), out.cols(), out.pointer(),
                            dt(out.dtype())));
        }
    }

    /** Fails unless addend (viewed as rows x cols) has the gemm result's shape and dtype. */
    private static void checkAddend(DeviceTensor addend, int rows, int cols, DType out) {
        if (addend.dtype() != out || addend.rows() != rows || addend.cols() != cols) {
            throw new IllegalArgumentException("the addend of a gemm whose result is " + rows + "x" + cols + " " + out
                    + " must have that shape and dtype, got " + addend);
        }
    }

    /** Fails unless bias is an F32 device tensor of n elements. */
    private static void checkBias(DeviceTensor bias, int n) {
        if (bias.dtype() != DType.F32 || (long) bias.rows() * bias.cols() != n) {
            throw new IllegalArgumentException("the bias of a gemm with " + n + " output columns must be an F32 tensor"
                    + " of " + n + " elements, got " + bias);
        }
    }

    /**
     * The F32 column sums of g (rows x cols, F32 or BF16), summed from the first row to the last as on the host:
     * a [1, cols] F32 device tensor. A bias's gradient is the column sums of dY.
     */
    DeviceTensor columnSums(DeviceTensor g) {
        DeviceTensor out = memory.allocate(1, g.cols(), DType.F32);
        try (Arena arena = Arena.ofConfined()) {
            cuda.driver.launch(cuda.module("elementwise.cu").function("column_sums"), "column_sums",
                    ceilDiv(g.cols(), 256), 1, 1, 256, 1, 1, 0, cuda.stream, cuda.module("elementwise.cu").args(arena, "column_sums", g.pointer(),
                            g.rows(), g.cols(), dt(g.dtype()), out.pointer()));
        }
        return out;
    }

    /** The high-precision gemm under the axis convention on the GPU; a and b share a dtype (F32 or BF16). */
    DeviceTensor matmul(DeviceTensor a, int aAxis, DeviceTensor b, int bAxis, DType out) {
        return matmul(a, aAxis, b, bAxis, null, out);
    }

    /**
     * The high-precision gemm plus bias (F32, one element per column of the result; null for none), added in F32
     * before the result is written in out, as {@link #gemm(DeviceFloat8, DeviceFloat8, DeviceTensor, DType, boolean)}
     * adds it.
     */
    DeviceTensor matmul(DeviceTensor a, int aAxis, DeviceTensor b, int bAxis, DeviceTensor bias, DType out) {
        return matmul(a, aAxis, b, bAxis, bias, out, null);
    }

    /**
     * {@link #matmul(DeviceTensor, int, DeviceTensor, int, DeviceTensor, DType)} plus addend (the result's shape and
     * dtype out; null for none), added in F32 before the one rounding to out as
     * {@link #gemm(DeviceFloat8, DeviceFloat8, DeviceTensor, DType, boolean, DeviceTensor)} adds it.
     */
    DeviceTensor matmul(DeviceTensor a, int aAxis, DeviceTensor b, int bAxis, DeviceTensor bias, DType out,
            DeviceTensor addend) {
        int depth = matmulDepth(a, aAxis, b, bAxis);
        int m = aAxis == 1 ? a.rows() : a.cols();
        int n = bAxis == 1 ? b.rows() : b.cols();
        if (bias != null) {
            checkBias(bias, n);
        }
        if (addend != null) {
            checkAddend(addend, m, n, out);
        }
        if (a.dtype() == DType.F32 && out == DType.BF16) {
            // cuBLASLt has no F32 x F32 -> BF16 matmul: F32 result, then rounded (with the addend added first)
            try (DeviceTensor f32 = matmul(a, aAxis, b, bAxis, bias, DType.F32)) {
                if (addend == null) {
                    return casts.convert(f32, DType.BF16);
                }
                DeviceTensor d = memory.allocate(m, n, out);
                epilogueAdd(f32, null, addend, d);
                return d;
            }
        }
        DeviceTensor d = memory.allocate(m, n, out);
        try {
            runMatmul(a, aAxis, b, bAxis, depth, d, false, bias, addend);
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
        return d;
    }

    /**
     * d += A·Bᵀ under the axis convention for high-precision operands (F32 or BF16, one dtype), accumulated by
     * cuBLASLt itself (beta = 1); d is F32 or BF16. A BF16 weight gradient goes straight into the gradient this way,
     * with no F32 temporary and no separate add. With overwrite, d = A·Bᵀ instead.
     */
    void matmulAccumulate(DeviceTensor d, DeviceTensor a, int aAxis, DeviceTensor b, int bAxis, boolean overwrite) {
        int depth = matmulDepth(a, aAxis, b, bAxis);
        int m = aAxis == 1 ? a.rows() : a.cols();
        int n = bAxis == 1 ? b.rows() : b.cols();
        if (d.rows() != m || d.cols() != n) {
            throw new IllegalArgumentException("cannot accumulate the matmul of " + a + " and " + b + " (" + m + "x" + n
                    + ") into " + d + ": needs a target of that shape");
        }
        runMatmul(a, aAxis, b, bAxis, depth, d, !overwrite, null, null);
    }

    /** The summed length of a matmul, after checking that a and b share a dtype and that length. */
    private static int matmulDepth(DeviceTensor a, int aAxis, DeviceTensor b, int bAxis) {
        if (a.dtype() != b.dtype()) {
            throw new IllegalArgumentException("matmul of " + a + " and " + b + ": dtypes differ");
        }
        int depth = aAxis == 1 ? a.cols() : a.rows();
        int depthB = bAxis == 1 ? b.cols() : b.rows();
        if (depth != depthB) {
            throw new IllegalArgumentException("matmul: " + a + " along axis " + aAxis + " sums over " + depth + ", "
                    + b + " along axis " + bAxis + " over " + depthB);
        }
        return depth;
    }

    private void runMatmul(DeviceTensor a, int aAxis, DeviceTensor b, int bAxis, int depth, DeviceTensor d,
            boolean accumulate, DeviceTensor bias, DeviceTensor addend) {
        CublasLt.Shape shape = new CublasLt.Shape(d.cols(), d.rows(), depth, ltType(b.dtype()), ltType(a.dtype()),
                ltType(d.dtype()), bAxis == 1 ? CublasLt.OP_T : CublasLt.OP_N, aAxis == 1 ? CublasLt.OP_N : CublasLt.OP_T,
                b.cols(), a.cols(), -1, -1, false, accumulate);
        withAddends(shape, d, bias, addend, (s, target, biasPointer, c) -> cuda.lt.matmul(s, b.pointer(), a.pointer(),
                c, target.pointer(), 0, 0, biasPointer, cuda.stream));
    }

    /** The host API's FP8 gemm: operands padded and uploaded, the F32 result downloaded. */
    Tensor hostGemm(Float8Tensor a, Float8Tensor b, int depth) {
        int[] modes = hostGemmModes(a.granularity(), b.granularity());
        int ltA = modes[1];
        int ltB = modes[0];
        boolean blockModes = ltA == CublasLt.SCALE_VEC128_32F || ltA == CublasLt.SCALE_BLK128X128_32F;
        int ld = roundUp(depth, blockModes ? 128 : 16);
        int m = a.axis() == 1 ? a.rows() : a.cols();
        int n = b.axis() == 1 ? b.rows() : b.cols();
        int mPadded = roundUp(m, 16);
        int nPadded = roundUp(n, 16);
        try (DeviceBuffer codesA = memory.uploadBytes(CudaCasts.kContiguousCodes(a, mPadded, ld));
                DeviceBuffer codesB = memory.uploadBytes(CudaCasts.kContiguousCodes(b, nPadded, ld));
                DeviceBuffer invA = memory.uploadFloats(inverseScales(a, ltB, mPadded, ld));
                DeviceBuffer invB = memory.uploadFloats(inverseScales(b, ltA, nPadded, ld));
                DeviceBuffer d = cuda.allocator.allocate(4L * mPadded * nPadded)) {
            CublasLt.Shape shape = new CublasLt.Shape(nPadded, mPadded, ld, ltType(b.format()), ltType(a.format()),
                    CublasLt.CUDA_R_32F, CublasLt.OP_T, CublasLt.OP_N, ld, ld, ltA, ltB, false, false);
            cuda.lt.matmul(shape, codesB.pointer(), codesA.pointer(), d.pointer(), invB.pointer(), invA.pointer(),
                    cuda.stream);
            float[] padded = memory.downloadFloats(d, mPadded * nPadded);
            float[] out = new float[m * n];
            for (int i = 0; i < m; i++) {
                System.arraycopy(padded, i * nPadded, out, i * n, n);
            }
            return Tensor.of(out, m, n);
        }
    }

    /**
     * cuBLASLt scale modes {for A, for B} (our operands) that hold these granularities exactly: scalar for two
     * tensorwise, outer vectors for tensorwise/rowwise, else 128-element vectors and 128x128 blocks (cuBLASLt
     * has no block x block kernel, so then A's blocks are written as 128-element vectors).
     */
    private static int[] hostGemmModes(ScalingGranularity a, ScalingGranularity b) {
        boolean aSimple = a == ScalingGranularity.TENSORWISE || a == ScalingGranularity.ROWWISE;
        boolean bSimple = b == ScalingGranularity.TENSORWISE || b == ScalingGranularity.ROWWISE;
        if (a == ScalingGranularity.TENSORWISE && b == ScalingGranularity.TENSORWISE) {
            return new int[] {CublasLt.SCALE_SCALAR_32F, CublasLt.SCALE_SCALAR_32F};
        }
        if (aSimple && bSimple) {
            return new int[] {CublasLt.SCALE_OUTER_VEC_32F, CublasLt.SCALE_OUTER_VEC_32F};
        }
        int modeB = b == ScalingGranularity.BLOCK_128X128 ? CublasLt.SCALE_BLK128X128_32F : CublasLt.SCALE_VEC128_32F;
        int modeA = a == ScalingGranularity.BLOCK_128X128 && modeB != CublasLt.SCALE_BLK128X128_32F
                ? CublasLt.SCALE_BLK128X128_32F : CublasLt.SCALE_VEC128_32F;
        return new int[] {modeA, modeB};
    }

    /** 1/scale in cuBLASLt's layout for ltMode; entries for padding are 0. */
    private static float[] inverseScales(Float8Tensor t, int ltMode, int freePadded, int ld) {
        int free = t.axis() == 1 ? t.rows() : t.cols();
        int depth = t.axis() == 1 ? t.cols() : t.rows();
        int kBlocks = ceilDiv(ld, 128);
        int blockStride = blockScaleStride(ld);
        float[] out;
        switch (ltMode) {
            case CublasLt.SCALE_SCALAR_32F -> out = new float[] {1f / t.scale(0, 0)};
            case CublasLt.SCALE_OUTER_VEC_32F -> {
                out = new float[freePadded];
                for (int f = 0; f < free; f++) {
                    out[f] = 1f / scaleAt(t, f, 0);
                }
            }
            case CublasLt.SCALE_VEC128_32F -> {
                out = new float[kBlocks * freePadded];
                for (int kb = 0; kb * 128 < depth; kb++) {
                    for (int f = 0; f < free; f++) {
                        out[kb * freePadded + f] = 1f / scaleAt(t, f, kb * 128);
                    }
                }
            }
            default -> {
                out = new float[ceilDiv(freePadded, 128) * blockStride];
                for (int fb = 0; fb * 128 < free; fb++) {
                    for (int kb = 0; kb * 128 < depth; kb++) {
                        out[fb * blockStride + kb] = 1f / scaleAt(t, fb * 128, kb * 128);
                    }
                }
            }
        }
        return out;
    }

    /** The scale of t at free index f and summed index k. */
    private static float scaleAt(Float8Tensor t, int f, int k) {
        return t.axis() == 1 ? t.scale(f, k) : t.scale(k, f);
    }

}
