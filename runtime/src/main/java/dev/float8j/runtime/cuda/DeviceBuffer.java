package dev.float8j.runtime.cuda;

/** A block of device memory from the caching allocator; close() hands it back for reuse. */
public final class DeviceBuffer implements AutoCloseable {
    private final DeviceAllocator allocator;
    private final long pointer;
    private final long bytes;
    private final long capacity;
    private boolean released;

    DeviceBuffer(DeviceAllocator allocator, long pointer, long bytes, long capacity) {
        this.allocator = allocator;
        this.pointer = pointer;
        this.bytes = bytes;
        this.capacity = capacity;
    }

    public long pointer() {
        if (released) {
            throw new IllegalStateException("device buffer used after close");
        }
        return pointer;
    }

    public long bytes() {
        return bytes;
    }

    long capacity() {
        return capacity;
    }

    /** The address, for the allocator only (valid after close too). */
    long address() {
        return pointer;
    }

    @Override
    public void close() {
        if (!released) {
            released = true;
            allocator.release(this);
        }
    }
}
