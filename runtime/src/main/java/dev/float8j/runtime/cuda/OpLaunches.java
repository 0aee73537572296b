package dev.float8j.runtime.cuda;

import static dev.float8j.runtime.cuda.DeviceFloat8.ceilDiv;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What the op rooms ({@link CudaModelOps}, {@link CudaOptimizerOps}) share to queue their kernels: inputs on the GPU
 * (a host tensor copied there for the op), results allocated, grids sized, launches checked against the kernel's
 * signature, and the checks of tensors an op writes into.
 */
final class OpLaunches {
    /** Threads a block of the elementwise kernels. */
    static final int THREADS = 256;

    private final CudaContext cuda;
    private final DeviceMemory memory;
    /** Host inputs copied for the op being queued. */
    private final List<DeviceTensor> uploads = new ArrayList<>();

    OpLaunches(CudaContext cuda, DeviceMemory memory) {
        this.cuda = cuda;
        this.memory = memory;
    }

    /** A kernel's dtype code: 0 for F32, 1 for BF16 (common.cuh's DT_F32, DT_BF16). */
    static int dt(DType d) {
        return d == DType.F32 ? 0 : 1;
    }

    /**
     * t's device memory with t's matrix shape. A host tensor is copied to the GPU first; the copy goes back to the
     * allocator once the op's kernel is queued (work on the one stream runs in order, so that is safe).
     */
    DeviceTensor in(Tensor t) {
        if (t.isOnDevice()) {
            return DeviceMemory.deviceView(t);
        }
        DeviceTensor copy = memory.upload(t);
        uploads.add(copy);
        return copy;
    }

    /** Frees the op's host uploads: after its kernels are queued, or where an op failed before. */
    void releaseUploads() {
        for (DeviceTensor copy : uploads) {
            copy.close();
        }
        uploads.clear();
    }

    /** t's device memory, which the op writes into: t must already be an F32 device tensor of this backend. */
    static DeviceTensor target(String op, String what, Tensor t) {
        if (!t.isOnDevice() || t.dtype() != DType.F32) {
            throw new IllegalArgumentException(op + ": " + what + " must be an F32 tensor on the GPU (move it with"
                    + " toDevice first), got " + t);
        }
        return DeviceMemory.writableView(t);
    }

    /** A parameter's gradient on the GPU, of either dtype (BF16 where the parameter keeps its gradient so). */
    static DeviceTensor gradientTarget(String op, String what, Tensor t) {
        if (!t.isOnDevice()) {
            throw new IllegalArgumentException(op + ": " + what + " must be a tensor on the GPU (move it with toDevice"
                    + " first), got " + t);
        }
        return DeviceMemory.writableView(t);
    }

    /** A new device tensor of the shape (rows the product of all but the last), allocated for a result. */
    Tensor result(DType dtype, int... shape) {
        int cols = shape[shape.length - 1];
        int rows = Math.toIntExact(Arrays.stream(shape).asLongStream().reduce(1, (a, b) -> a * b) / cols);
        return memory.resident(memory.allocate(rows, cols, dtype), shape);
    }

    /** Blocks of THREADS threads for n elements of an elementwise kernel, up to 32 a multiprocessor. */
    int gridFor(long n) {
        return (int) Math.max(1, Math.min(ceilDiv((int) Math.min(n, Integer.MAX_VALUE - THREADS), THREADS),
                32L * cuda.multiprocessors));
    }

    /** lines.cuh's strip of columns (LINE_QUADS x 32 quads of 4) and its warps per block. */
    private static final int LINE_STRIP_COLUMNS = 512;
    private static final int LINE_WARPS = 8;

    /**
     * The grid of a kernel reporting the line maxima of a rows x cols result (lines.cuh): every strip of columns gets
     * as many row groups as make eight blocks per multiprocessor in all, but no group without a row.
     */
    int lineGrid(ProducerMaxima.Maxima reported) {
        return lineGrid(reported, 8);
    }

    /**
     * As {@link #lineGrid(ProducerMaxima.Maxima)} with blocksPerMultiprocessor blocks per multiprocessor in all
     * (rounded down to whole row groups, at least one): for a kernel that fits that many at once, one wave.
     */
    int lineGrid(ProducerMaxima.Maxima reported, int blocksPerMultiprocessor) {
        int strips = ceilDiv(reported.cols(), LINE_STRIP_COLUMNS);
        int groups = Math.max(1, Math.min(ceilDiv(reported.rows(), LINE_WARPS),
                blocksPerMultiprocessor * cuda.multiprocessors / strips));
        return strips * groups;
    }

    /** Queues kernel on the stream (arguments checked against its signature), then frees the op's host uploads. */
    void launch(KernelModule module, String kernel, int grid, int threads, int sharedBytes, Object... args) {
        try (Arena arena = Arena.ofConfined()) {
            cuda.driver.launch(module.function(kernel), kernel, grid, 1, 1, threads, 1, 1, sharedBytes, cuda.stream,
                    module.args(arena, kernel, args));
        }
        releaseUploads();
    }

    /** An op's two tensors of one shape, or an error naming both. */
    static void requireSameShape(String op, String whatA, Tensor a, String whatB, Tensor b) {
        if (!Arrays.equals(a.shape(), b.shape())) {
            throw new IllegalArgumentException(op + ": " + whatA + " " + Arrays.toString(a.shape()) + " and " + whatB
                    + " " + Arrays.toString(b.shape()) + " must have one shape");
        }
    }
}
