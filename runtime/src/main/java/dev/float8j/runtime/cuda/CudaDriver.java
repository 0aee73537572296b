package dev.float8j.runtime.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.function.Supplier;

/**
 * FFM bindings to the CUDA driver API (libcuda.so.1): primary context, memory, streams, events,
 * modules and kernel launches. Every status is checked; failures carry cuGetErrorString's text.
 * Device pointers are plain longs (CUdeviceptr).
 */
final class CudaDriver {
    static final int ATTR_MULTIPROCESSOR_COUNT = 16;
    static final int ATTR_COMPUTE_CAPABILITY_MAJOR = 75;
    static final int ATTR_COMPUTE_CAPABILITY_MINOR = 76;
    /** CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR. */
    static final int ATTR_SHARED_BYTES_PER_MULTIPROCESSOR = 81;
    /** CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES. */
    static final int FUNC_ATTR_MAX_DYNAMIC_SHARED_BYTES = 8;

    private final NativeLibrary lib;
    private final MethodHandle cuInit;
    private final MethodHandle cuDriverGetVersion;
    private final MethodHandle cuDeviceGetCount;
    private final MethodHandle cuDeviceGet;
    private final MethodHandle cuDeviceGetName;
    private final MethodHandle cuDeviceGetAttribute;
    private final MethodHandle cuDevicePrimaryCtxRetain;
    private final MethodHandle cuCtxSetCurrent;
    private final MethodHandle cuCtxSynchronize;
    private final MethodHandle cuMemAlloc;
    private final MethodHandle cuMemFree;
    private final MethodHandle cuMemGetInfo;
    private final MethodHandle cuMemcpyHtoD;
    private final MethodHandle cuMemcpyHtoDAsync;
    private final MethodHandle cuMemAllocHost;
    private final MethodHandle cuEventQuery;
    private final MethodHandle cuMemcpyDtoH;
    private final MethodHandle cuMemcpyDtoDAsync;
    private final MethodHandle cuMemsetD8Async;
    private final MethodHandle cuMemsetD32Async;
    private final MethodHandle cuStreamCreate;
    private final MethodHandle cuStreamSynchronize;
    private final MethodHandle cuStreamDestroy;
    private final MethodHandle cuEventCreate;
    private final MethodHandle cuEventRecord;
    private final MethodHandle cuEventDestroy;
    private final MethodHandle cuStreamWaitEvent;
    private final MethodHandle cuEventSynchronize;
    private final MethodHandle cuEventElapsedTime;
    private final MethodHandle cuModuleLoadData;
    private final MethodHandle cuModuleGetFunction;
    private final MethodHandle cuFuncSetAttribute;
    private final MethodHandle cuLaunchKernel;
    private final MethodHandle cuGetErrorString;
    private final MethodHandle cuTensorMapEncodeTiled;

    CudaDriver() {
        lib = NativeLibrary.open("the CUDA driver", "float8j.cuda.libcuda", "libcuda.so.1", "libcuda.so");
        FunctionDescriptor i = FunctionDescriptor.of(JAVA_INT, JAVA_INT);
        FunctionDescriptor p = FunctionDescriptor.of(JAVA_INT, ADDRESS);
        cuInit = lib.bind("cuInit", i);
        cuDriverGetVersion = lib.bind("cuDriverGetVersion", p);
        cuDeviceGetCount = lib.bind("cuDeviceGetCount", p);
        cuDeviceGet = lib.bind("cuDeviceGet", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        cuDeviceGetName = lib.bind("cuDeviceGetName", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        cuDeviceGetAttribute = lib.bind("cuDeviceGetAttribute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        cuDevicePrimaryCtxRetain = lib.bind("cuDevicePrimaryCtxRetain",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        cuCtxSetCurrent = lib.bind("cuCtxSetCurrent", p);
        cuCtxSynchronize = lib.bind("cuCtxSynchronize", FunctionDescriptor.of(JAVA_INT));
        cuMemAlloc = lib.bind("cuMemAlloc_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        cuMemFree = lib.bind("cuMemFree_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        cuMemGetInfo = lib.bind("cuMemGetInfo_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        cuMemcpyHtoD = lib.bind("cuMemcpyHtoD_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG));
        cuMemcpyHtoDAsync = lib.bind("cuMemcpyHtoDAsync_v2",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS));
        cuMemAllocHost = lib.bind("cuMemAllocHost_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        cuEventQuery = lib.bind("cuEventQuery", p);
        cuMemcpyDtoH = lib.bind("cuMemcpyDtoH_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
        cuMemcpyDtoDAsync = lib.bind("cuMemcpyDtoDAsync_v2",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS));
        cuMemsetD8Async = lib.bind("cuMemsetD8Async",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_BYTE, JAVA_LONG, ADDRESS));
        cuMemsetD32Async = lib.bind("cuMemsetD32Async",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_LONG, ADDRESS));
        cuStreamCreate = lib.bind("cuStreamCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        cuStreamSynchronize = lib.bind("cuStreamSynchronize", p);
        cuStreamDestroy = lib.bind("cuStreamDestroy_v2", p);
        cuEventCreate = lib.bind("cuEventCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        cuEventRecord = lib.bind("cuEventRecord", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        cuEventDestroy = lib.bind("cuEventDestroy_v2", p);
        cuStreamWaitEvent = lib.bind("cuStreamWaitEvent", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        cuEventSynchronize = lib.bind("cuEventSynchronize", p);
        cuEventElapsedTime = lib.bind("cuEventElapsedTime", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        cuModuleLoadData = lib.bind("cuModuleLoadData", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        cuModuleGetFunction = lib.bind("cuModuleGetFunction",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        cuFuncSetAttribute = lib.bind("cuFuncSetAttribute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        cuLaunchKernel = lib.bind("cuLaunchKernel", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        cuGetErrorString = lib.bind("cuGetErrorString", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        // (map, dataType, rank, globalAddress, globalDim, globalStrides, boxDim, elementStrides, interleave, swizzle,
        // l2Promotion, oobFill)
        cuTensorMapEncodeTiled = lib.bind("cuTensorMapEncodeTiled", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT,
                JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    }

    String loadedFrom() {
        return lib.loadedFrom();
    }

    void check(int status, String call) {
        if (status != 0) {
            String text;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(ADDRESS);
                int s = (int) cuGetErrorString.invokeExact(status, out);
                text = s == 0 ? NativeLibrary.cString(out.get(ADDRESS, 0)) : "unknown error";
            } catch (Throwable t) {
                text = "unknown error";
            }
            throw new CudaException(call + " failed: CUDA error " + status + " (" + text + ")", status);
        }
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new CudaException(t.toString());
    }

    /** CUDA_ERROR_NO_DEVICE: a driver is installed but no GPU is visible. */
    private static final int ERROR_NO_DEVICE = 100;

    void init() {
        int status;
        try {
            status = (int) cuInit.invokeExact(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (status == ERROR_NO_DEVICE) {
            throw new CudaUnavailableException("the CUDA driver (" + loadedFrom() + ") sees no GPU (cuInit: "
                    + "CUDA_ERROR_NO_DEVICE)");
        }
        check(status, "cuInit");
    }

    int driverVersion() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(JAVA_INT);
            check((int) cuDriverGetVersion.invokeExact(v), "cuDriverGetVersion");
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int deviceCount() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(JAVA_INT);
            check((int) cuDeviceGetCount.invokeExact(v), "cuDeviceGetCount");
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int device(int ordinal) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(JAVA_INT);
            check((int) cuDeviceGet.invokeExact(v, ordinal), "cuDeviceGet(" + ordinal + ")");
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    String deviceName(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment name = arena.allocate(256);
            check((int) cuDeviceGetName.invokeExact(name, 256, device), "cuDeviceGetName");
            return name.getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int attribute(int device, int attribute) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(JAVA_INT);
            check((int) cuDeviceGetAttribute.invokeExact(v, attribute, device), "cuDeviceGetAttribute(" + attribute + ")");
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Retains the device's primary context and makes it current on the calling thread. */
    MemorySegment retainPrimaryContext(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ADDRESS);
            check((int) cuDevicePrimaryCtxRetain.invokeExact(v, device), "cuDevicePrimaryCtxRetain");
            MemorySegment ctx = v.get(ADDRESS, 0);
            setCurrent(ctx);
            return ctx;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void setCurrent(MemorySegment context) {
        try {
            check((int) cuCtxSetCurrent.invokeExact(context), "cuCtxSetCurrent");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void synchronize() {
        try {
            check((int) cuCtxSynchronize.invokeExact(), "cuCtxSynchronize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    long malloc(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(JAVA_LONG);
            check((int) cuMemAlloc.invokeExact(v, bytes), "cuMemAlloc(" + bytes + " bytes)");
            return v.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void free(long pointer) {
        try {
            check((int) cuMemFree.invokeExact(pointer), "cuMemFree");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {free, total} device memory in bytes. */
    long[] memInfo() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment f = arena.allocate(JAVA_LONG);
            MemorySegment t = arena.allocate(JAVA_LONG);
            check((int) cuMemGetInfo.invokeExact(f, t), "cuMemGetInfo");
            return new long[] {f.get(JAVA_LONG, 0), t.get(JAVA_LONG, 0)};
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void copyToDevice(long dst, MemorySegment src, long bytes) {
        try {
            check((int) cuMemcpyHtoD.invokeExact(dst, src, bytes), "cuMemcpyHtoD(" + bytes + " bytes)");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Queues a copy from pinned host memory (see {@link #allocateHost}) on stream; the host must leave src unchanged
     * until the copy has run.
     */
    void copyToDeviceAsync(long dst, MemorySegment src, long bytes, MemorySegment stream) {
        try {
            check((int) cuMemcpyHtoDAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyHtoDAsync(" + bytes + " bytes)");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Page-locked host memory of the given size, which the GPU copies from without staging; never freed. */
    MemorySegment allocateHost(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cuMemAllocHost.invokeExact(out, bytes), "cuMemAllocHost(" + bytes + " bytes)");
            return out.get(ADDRESS, 0).reinterpret(bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void copyToHost(MemorySegment dst, long src, long bytes) {
        try {
            check((int) cuMemcpyDtoH.invokeExact(dst, src, bytes), "cuMemcpyDtoH(" + bytes + " bytes)");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void copyOnDevice(long dst, long src, long bytes, MemorySegment stream) {
        queue(stream, "copy", () -> (int) cuMemcpyDtoDAsync.invokeExact(dst, src, bytes, stream),
                () -> "cuMemcpyDtoDAsync(" + bytes + " bytes)");
    }

    void memset8(long dst, byte value, long count, MemorySegment stream) {
        queue(stream, "memset", () -> (int) cuMemsetD8Async.invokeExact(dst, value, count, stream),
                () -> "cuMemsetD8Async");
    }

    void memset32(long dst, int value, long count, MemorySegment stream) {
        queue(stream, "memset", () -> (int) cuMemsetD32Async.invokeExact(dst, value, count, stream),
                () -> "cuMemsetD32Async");
    }

    /** A driver call that queues work on a stream, returning its CUresult. */
    @FunctionalInterface
    private interface StreamCall {
        int run() throws Throwable;
    }

    /**
     * Runs call, which queues work on stream, between the kernel timer's two events under the name timed while the
     * timer is on; a status other than success fails with what() naming the call (built only then).
     */
    private void queue(MemorySegment stream, String timed, StreamCall call, Supplier<String> what) {
        KernelTimes times = kernelTimes;
        if (times != null) {
            times.before(stream);
        }
        int status;
        try {
            status = call.run();
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (status != 0) {
            check(status, what.get());
        }
        if (times != null) {
            times.after(timed, stream);
        }
    }

    /** CU_STREAM_NON_BLOCKING: a stream that the legacy default stream's synchronous copies do not wait for. */
    static final int STREAM_NON_BLOCKING = 0x1;

    MemorySegment createStream() {
        return createStream(0);
    }

    MemorySegment createStream(int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ADDRESS);
            check((int) cuStreamCreate.invokeExact(v, flags), "cuStreamCreate");
            return v.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void synchronize(MemorySegment stream) {
        try {
            check((int) cuStreamSynchronize.invokeExact(stream), "cuStreamSynchronize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Destroys a stream; work already queued on it still completes. */
    void destroyStream(MemorySegment stream) {
        try {
            check((int) cuStreamDestroy.invokeExact(stream), "cuStreamDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** CU_EVENT_DISABLE_TIMING: an event that only orders streams, cheaper to record and wait on. */
    static final int EVENT_DISABLE_TIMING = 0x2;

    MemorySegment createEvent() {
        return createEvent(0);
    }

    MemorySegment createEvent(int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ADDRESS);
            check((int) cuEventCreate.invokeExact(v, flags), "cuEventCreate");
            return v.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void record(MemorySegment event, MemorySegment stream) {
        try {
            check((int) cuEventRecord.invokeExact(event, stream), "cuEventRecord");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void destroyEvent(MemorySegment event) {
        try {
            check((int) cuEventDestroy.invokeExact(event), "cuEventDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** CUDA_ERROR_NOT_READY: cuEventQuery's answer while the work before the event's record is still running. */
    private static final int ERROR_NOT_READY = 600;

    /** Whether the work before the event's last record has completed (no wait). */
    boolean completed(MemorySegment event) {
        try {
            int status = (int) cuEventQuery.invokeExact(event);
            if (status == ERROR_NOT_READY) {
                return false;
            }
            check(status, "cuEventQuery");
            return true;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Waits on the host until the work before the event's last record has completed. */
    void awaitEvent(MemorySegment event) {
        try {
            check((int) cuEventSynchronize.invokeExact(event), "cuEventSynchronize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Work queued on stream after this call waits for the event's last record to complete (no host wait). */
    void waitEvent(MemorySegment stream, MemorySegment event) {
        try {
            check((int) cuStreamWaitEvent.invokeExact(stream, event, 0), "cuStreamWaitEvent");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Milliseconds between two recorded events, after waiting for the second. */
    float elapsedMillis(MemorySegment start, MemorySegment end) {
        awaitEvent(end);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(JAVA_FLOAT);
            check((int) cuEventElapsedTime.invokeExact(v, start, end), "cuEventElapsedTime");
            return v.get(JAVA_FLOAT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    MemorySegment loadModule(byte[] image) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(image.length + 1L);
            data.copyFrom(MemorySegment.ofArray(image));
            MemorySegment v = arena.allocate(ADDRESS);
            check((int) cuModuleLoadData.invokeExact(v, data), "cuModuleLoadData");
            return v.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    MemorySegment function(MemorySegment module, String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ADDRESS);
            check((int) cuModuleGetFunction.invokeExact(v, module, arena.allocateFrom(name)),
                    "cuModuleGetFunction(" + name + ")");
            return v.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void setFunctionAttribute(MemorySegment function, int attribute, int value) {
        try {
            check((int) cuFuncSetAttribute.invokeExact(function, attribute, value), "cuFuncSetAttribute");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** CU_TENSOR_MAP_DATA_TYPE_FLOAT32 and _BFLOAT16. */
    static final int TENSOR_MAP_F32 = 7;
    static final int TENSOR_MAP_BF16 = 9;
    /** CU_TENSOR_MAP_SWIZZLE_128B: the box lands in shared memory in wgmma's 128-byte-swizzled layout. */
    static final int TENSOR_MAP_SWIZZLE_128B = 3;
    /** CU_TENSOR_MAP_L2_PROMOTION_L2_256B. */
    private static final int TENSOR_MAP_L2_256B = 3;
    /** A CUtensorMap: 128 opaque bytes, 64-byte aligned. */
    static final int TENSOR_MAP_BYTES = 128;

    /**
     * A tiled TMA descriptor of a dense tensor of the given element type at address: dims (innermost first),
     * strides of dims 1.. in bytes (multiples of 16), the box copied per load, every element stride 1, no
     * interleave, out-of-range elements read as zeros. Allocated in arena, as a kernel parameter by value.
     */
    MemorySegment encodeTensorMap(Arena arena, int dataType, long address, long[] dims, long[] strides, int[] box,
            int swizzle) {
        MemorySegment map = arena.allocate(TENSOR_MAP_BYTES, 64);
        int[] elementStrides = new int[box.length];
        java.util.Arrays.fill(elementStrides, 1);
        try {
            check((int) cuTensorMapEncodeTiled.invokeExact(map, dataType, dims.length, address,
                    arena.allocateFrom(JAVA_LONG, dims), arena.allocateFrom(JAVA_LONG, strides),
                    arena.allocateFrom(JAVA_INT, box), arena.allocateFrom(JAVA_INT, elementStrides), 0, swizzle,
                    TENSOR_MAP_L2_256B, 0), "cuTensorMapEncodeTiled");
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return map;
    }

    /** Launches a kernel; params is a void*[] of pointers to each argument's value. */
    void launch(MemorySegment function, String name, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes,
            MemorySegment stream, MemorySegment params) {
        queue(stream, name, () -> (int) cuLaunchKernel.invokeExact(function, gx, gy, gz, bx, by, bz, sharedBytes, stream,
                params, MemorySegment.NULL), () -> "cuLaunchKernel(" + name + ", grid " + gx + "x" + gy + "x" + gz + ")");
    }

    /** The per-kernel timer that launches, cuBLASLt matmuls, memsets and copies report to, or null (the default): off. */
    KernelTimes kernelTimes;
}
