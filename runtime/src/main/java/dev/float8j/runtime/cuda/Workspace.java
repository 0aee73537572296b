package dev.float8j.runtime.cuda;

/**
 * Device scratch memory that ops reuse call after call (partial sums, per-row losses): it only grows, so once
 * the first step has sized it no op allocates for its scratch. Work is queued on one stream, so a later op may
 * reuse what an earlier one wrote; a replaced block goes back to the allocator, which hands it out only to
 * work queued after it.
 */
final class Workspace {
    private final DeviceAllocator allocator;
    private DeviceBuffer buffer;

    Workspace(DeviceAllocator allocator) {
        this.allocator = allocator;
    }

    /** The address of at least count floats, valid until the next call. */
    long floats(long count) {
        long bytes = Math.max(4, 4 * count);
        if (buffer == null || buffer.bytes() < bytes) {
            if (buffer != null) {
                buffer.close();
            }
            buffer = allocator.allocate(bytes);
        }
        return buffer.pointer();
    }
}
