package dev.float8j.runtime.cuda;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;

/**
 * Pinned host buffers that small uploads go through, so that their copy is queued on the compute stream
 * (cuMemcpyHtoDAsync) behind the kernels already there, where a copy from pageable memory would make the host wait
 * until the GPU has run them all. A training step uploads its token ids this way while the GPU still runs the previous
 * step's optimizer, so the host queues the step's first kernels ahead of the GPU instead of after it has drained.
 *
 * <p>A buffer is reused once the copy that last read it has run (an event per buffer); until then an upload takes
 * another, so the pool grows to the uploads in flight, at most {@link #MAX_BUFFERS}; beyond that an upload waits for
 * the oldest copy. Uploads larger than {@link #MAX_BYTES} (weights, checkpoints) are not staged.
 */
final class HostStaging {
    /** The largest upload staged here, and each buffer's size. */
    static final long MAX_BYTES = 1L << 20;
    private static final int MAX_BUFFERS = 8;
    private static final int EVENT_DISABLE_TIMING = 0x2;

    private record Buffer(MemorySegment host, MemorySegment copied) {
    }

    private final CudaDriver driver;
    /** Buffers in the order of their last use, the oldest first. */
    private final ArrayDeque<Buffer> buffers = new ArrayDeque<>();

    HostStaging(CudaDriver driver) {
        this.driver = driver;
    }

    /** Queues a copy of bytes (at most {@link #MAX_BYTES}) from src to device address dst on stream. */
    synchronized void upload(long dst, MemorySegment src, long bytes, MemorySegment stream) {
        if (bytes > MAX_BYTES) {
            throw new IllegalArgumentException("staged uploads hold at most " + MAX_BYTES + " bytes, got " + bytes);
        }
        Buffer b = take();
        MemorySegment.copy(src, 0, b.host(), 0, bytes);
        driver.copyToDeviceAsync(dst, b.host(), bytes, stream);
        driver.record(b.copied(), stream);
        buffers.addLast(b);
    }

    /** The oldest buffer once its copy has run (waiting for it when the pool is full), else a new one. */
    private Buffer take() {
        Buffer oldest = buffers.peekFirst();
        if (oldest != null && (buffers.size() >= MAX_BUFFERS || driver.completed(oldest.copied()))) {
            buffers.pollFirst();
            driver.awaitEvent(oldest.copied());
            return oldest;
        }
        return new Buffer(driver.allocateHost(MAX_BYTES), driver.createEvent(EVENT_DISABLE_TIMING));
    }
}
