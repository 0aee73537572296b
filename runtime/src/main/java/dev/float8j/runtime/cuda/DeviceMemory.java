package dev.float8j.runtime.cuda;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.DeviceData;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.Float8Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;
import java.util.ArrayDeque;

/**
 * Transfers and residency: device memory from the caching allocator, copies between host and GPU, and the
 * host-side tensors that hold device memory ({@link Resident}, freed by the collector or by the innermost open
 * {@link DeviceScope}).
 */
final class DeviceMemory {
    private final CudaContext cuda;
    private final HostStaging staging;
    /** Open scopes, innermost last. */
    private final ArrayDeque<DeviceScope> scopes = new ArrayDeque<>();

    DeviceMemory(CudaContext cuda) {
        this.cuda = cuda;
        this.staging = new HostStaging(cuda.driver);
    }

    String deviceLabel() {
        return "cuda (" + cuda.deviceName + ")";
    }

    DeviceTensor allocate(int rows, int cols, DType dtype) {
        return new DeviceTensor(cuda.allocator.allocate((long) rows * cols * dtype.bytes()), rows, cols, dtype);
    }

    /** Copies a host tensor (viewed as rows x cols) to the GPU, keeping its dtype. */
    DeviceTensor upload(Tensor x) {
        DeviceTensor d = allocate(x.rows(), x.cols(), x.dtype());
        copyFromHost(d, x);
        return d;
    }

    /**
     * Overwrites d with host tensor x (same dtype and byte count), after the work already queued (see
     * {@link #copyToDevice}), so no kernel still reading d sees it.
     */
    void copyFromHost(DeviceTensor d, Tensor x) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = x.dtype() == DType.F32 ? arena.allocateFrom(JAVA_FLOAT, x.data())
                    : arena.allocateFrom(JAVA_SHORT, x.bf16Data());
            if (host.byteSize() != d.bytes()) {
                throw new IllegalArgumentException("cannot copy " + x + " into " + d + ": sizes differ");
            }
            copyToDevice(d.pointer(), host, d.bytes());
        }
    }

    /**
     * Copies host memory to dst after every kernel already queued on the compute stream. A small copy is queued on
     * that stream through pinned memory ({@link HostStaging}) and the host goes on at once; a large one runs on the
     * legacy default stream, which waits for the work queued on ours (a blocking stream), and the host with it.
     */
    private void copyToDevice(long dst, MemorySegment host, long bytes) {
        if (bytes <= HostStaging.MAX_BYTES) {
            staging.upload(dst, host, bytes, cuda.stream);
        } else {
            cuda.driver.copyToDevice(dst, host, bytes);
        }
    }

    /** Copies a device tensor back as a rows x cols host tensor. */
    Tensor download(DeviceTensor d) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(d.bytes(), 8);
            cuda.driver.copyToHost(host, d.pointer(), d.bytes());
            cuda.faults.check();
            return d.dtype() == DType.F32 ? Tensor.of(host.toArray(JAVA_FLOAT), d.rows(), d.cols())
                    : Tensor.ofBf16(host.toArray(JAVA_SHORT), d.rows(), d.cols());
        }
    }

    DeviceBuffer uploadBytes(byte[] data) {
        DeviceBuffer d = cuda.allocator.allocate(data.length);
        try (Arena arena = Arena.ofConfined()) {
            copyToDevice(d.pointer(), arena.allocateFrom(JAVA_BYTE, data), data.length);
        }
        return d;
    }

    DeviceBuffer uploadFloats(float[] data) {
        DeviceBuffer d = cuda.allocator.allocate(4L * data.length);
        try (Arena arena = Arena.ofConfined()) {
            copyToDevice(d.pointer(), arena.allocateFrom(JAVA_FLOAT, data), 4L * data.length);
        }
        return d;
    }

    DeviceBuffer uploadInts(int[] data) {
        DeviceBuffer d = cuda.allocator.allocate(4L * data.length);
        try (Arena arena = Arena.ofConfined()) {
            copyToDevice(d.pointer(), arena.allocateFrom(JAVA_INT, data), 4L * data.length);
        }
        return d;
    }

    byte[] downloadBytes(DeviceBuffer d, long count) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(count);
            cuda.driver.copyToHost(host, d.pointer(), count);
            cuda.faults.check();
            return host.toArray(JAVA_BYTE);
        }
    }

    float[] downloadFloats(DeviceBuffer d, int count) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(JAVA_FLOAT, count);
            cuda.driver.copyToHost(host, d.pointer(), 4L * count);
            cuda.faults.check();
            return host.toArray(JAVA_FLOAT);
        }
    }

    /** count zeroed 32-bit words (zeroed on the stream). */
    DeviceBuffer zeroedWords(int count) {
        DeviceBuffer b = cuda.allocator.allocate(4L * count);
        cuda.driver.memset32(b.pointer(), 0, count, cuda.stream);
        return b;
    }

    static long pointerOf(DeviceBuffer b) {
        return b == null ? 0L : b.pointer();
    }

    // ---------------------------------------------------------------- residency

    DeviceScope openScope() {
        DeviceScope scope = new DeviceScope(this);
        scopes.addLast(scope);
        return scope;
    }

    void closeScope(DeviceScope scope) {
        if (scopes.peekLast() != scope) {
            throw new IllegalStateException("device scopes must close innermost first");
        }
        scopes.removeLast();
    }

    private Resident track(Resident r) {
        DeviceScope scope = scopes.peekLast();
        if (scope != null) {
            scope.add(r);
        }
        return r;
    }

    /** A host-side tensor that owns d. */
    Tensor resident(DeviceTensor d, int... shape) {
        return Tensor.onDevice(track(Resident.of(deviceLabel(), d)), d.dtype(), shape);
    }

    Float8Tensor resident(DeviceFloat8 q, DType originalDType, int[] shape) {
        return Float8Tensor.onDevice(track(Resident.of(deviceLabel(), q)), q.spec(), originalDType, shape);
    }

    /** A holder of a raw buffer (token ids), freed like any device tensor. */
    Resident resident(DeviceBuffer buffer) {
        return track(Resident.of(deviceLabel(), buffer));
    }

    /**
     * Marks t released and, if it was the last live view of device memory of this backend, frees that memory (a host
     * tensor is only marked): {@link CudaBackend#release(Tensor)}, and how an op drops a result it will not return.
     */
    static void release(Tensor t) {
        Resident r = t.isOnDevice() ? ours(t, t.deviceData()) : null;
        if (t.markReleased() && r != null) {
            r.free();
        }
    }

    static Resident ours(Object t, DeviceData data) {
        if (!(data instanceof Resident r)) {
            throw new IllegalArgumentException(t + " is not memory of the CUDA backend");
        }
        return r;
    }

    static Resident ours(Float8Tensor q) {
        return ours(q, q.deviceData());
    }

    /** The device tensor behind t, seen with t's own matrix shape (a reshape shares the memory). */
    static DeviceTensor deviceView(Tensor t) {
        DeviceTensor d = ours(t, t.deviceData()).tensor;
        if (d == null) {
            throw new IllegalArgumentException(t + " is not a device tensor of the CUDA backend");
        }
        return new DeviceTensor(d.buffer(), t.rows(), t.cols(), t.dtype());
    }

    /**
     * The device tensor behind t for an op that writes into it in place: the maxima its producer reported no longer
     * hold, so they are dropped (see {@link ProducerMaxima}).
     */
    static DeviceTensor writableView(Tensor t) {
        DeviceTensor d = deviceView(t);
        ours(t, t.deviceData()).knownAmax(null);
        return d;
    }

    Tensor toDevice(Tensor t) {
        if (t.isOnDevice()) {
            deviceView(t);  // checks that it is this GPU's
            return t;
        }
        return resident(upload(t), t.shape());
    }

    Tensor toHost(Tensor t) {
        if (!t.isOnDevice()) {
            return t;
        }
        try {
            return download(deviceView(t)).reshape(t.shape());
        } finally {
            Reference.reachabilityFence(t);
        }
    }
}
