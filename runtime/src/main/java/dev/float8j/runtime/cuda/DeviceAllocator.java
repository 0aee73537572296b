package dev.float8j.runtime.cuda;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * A caching device allocator: freed blocks go back to a per-size free list and are handed out again, so a
 * training step allocates nothing from the driver once the first steps have filled the cache. Sizes are
 * rounded up (to 512 bytes, then to 2 MiB for blocks of 1 MiB and more) so that close sizes share blocks.
 * The allocator is ordered by the backend's compute stream: a block freed after its last use there is safe to reuse
 * at once. NCCL collectives run on a second stream ({@link CollectiveStream}), which keeps their blocks from being
 * freed until the compute stream has been made to wait for them, so the rule holds for them too.
 */
public final class DeviceAllocator {
    private final CudaDriver driver;
    private final Map<Long, ArrayDeque<Long>> free = new HashMap<>();
    private long bytesInUse;
    private long peakBytesInUse;
    private long bytesCached;
    private long driverAllocations;

    DeviceAllocator(CudaDriver driver) {
        this.driver = driver;
    }

    static long roundedSize(long bytes) {
        long unit = bytes >= (1L << 20) ? 2L << 20 : 512;
        return Math.max(unit, (bytes + unit - 1) / unit * unit);
    }

    DeviceBuffer allocate(long bytes) {
        CudaException outOfMemory;
        try {
            return allocateOrEmptyCache(bytes);
        } catch (CudaException e) {
            outOfMemory = onlyOutOfMemory(e);
        }
        // Device tensors that the program dropped are returned by the garbage collector's cleaners (see
        // Resident), outside this allocator's lock: collect, give them a moment, and try again.
        for (int attempt = 0; attempt < 6; attempt++) {
            System.gc();
            try {
                Thread.sleep(10L << attempt);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            try {
                return allocateOrEmptyCache(bytes);
            } catch (CudaException e) {
                outOfMemory = onlyOutOfMemory(e);
            }
        }
        throw new CudaException("out of device memory: " + bytes + " bytes requested, " + bytesInUse()
                + " bytes in use by live tensors (" + outOfMemory.getMessage() + ")", CudaException.OUT_OF_MEMORY);
    }

    /**
     * e if the driver ran out of memory; any other failure is rethrown as itself. A kernel's illegal address makes
     * every later call fail with error 700, which collecting garbage cannot cure, and reporting it as "out of device
     * memory" sent the reader to the wrong cause.
     */
    private static CudaException onlyOutOfMemory(CudaException e) {
        if (!e.isOutOfMemory()) {
            throw e;
        }
        return e;
    }

    private synchronized DeviceBuffer allocateOrEmptyCache(long bytes) {
        long size = roundedSize(bytes);
        ArrayDeque<Long> list = free.get(size);
        long pointer;
        if (list != null && !list.isEmpty()) {
            pointer = list.pop();
            bytesCached -= size;
        } else {
            try {
                pointer = driver.malloc(size);
            } catch (CudaException e) {
                onlyOutOfMemory(e);
                emptyCache();
                pointer = driver.malloc(size);
            }
            driverAllocations++;
        }
        bytesInUse += size;
        peakBytesInUse = Math.max(peakBytesInUse, bytesInUse);
        return new DeviceBuffer(this, pointer, bytes, size);
    }

    synchronized void release(DeviceBuffer buffer) {
        free.computeIfAbsent(buffer.capacity(), k -> new ArrayDeque<>()).push(buffer.address());
        bytesInUse -= buffer.capacity();
        bytesCached += buffer.capacity();
    }

    /** Returns every cached block to the driver. */
    public synchronized void emptyCache() {
        driver.synchronize();
        for (var entry : free.entrySet()) {
            for (long pointer : entry.getValue()) {
                driver.free(pointer);
            }
        }
        free.clear();
        bytesCached = 0;
    }

    /** Bytes in blocks handed out and not yet released. */
    public synchronized long bytesInUse() {
        return bytesInUse;
    }

    /** Bytes in released blocks kept for reuse. */
    public synchronized long bytesCached() {
        return bytesCached;
    }

    /** The most bytes in use at once since start or the last {@link #resetPeak()}. */
    public synchronized long peakBytesInUse() {
        return peakBytesInUse;
    }

    /** Starts a new peak from the bytes in use now. */
    public synchronized void resetPeak() {
        peakBytesInUse = bytesInUse;
    }

    /** How many times the driver was asked for memory since start. */
    public synchronized long driverAllocations() {
        return driverAllocations;
    }
}
