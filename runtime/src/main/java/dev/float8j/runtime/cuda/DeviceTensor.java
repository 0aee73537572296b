package dev.float8j.runtime.cuda;

import dev.float8j.runtime.DType;

/** A dense row-major rows x cols F32 or BF16 matrix that lives on the GPU. */
public record DeviceTensor(DeviceBuffer buffer, int rows, int cols, DType dtype) implements AutoCloseable {

    public long pointer() {
        return buffer.pointer();
    }

    public long bytes() {
        return (long) rows * cols * dtype.bytes();
    }

    @Override
    public void close() {
        buffer.close();
    }

    @Override
    public String toString() {
        return "DeviceTensor[" + rows + "x" + cols + " " + dtype + "]";
    }
}
