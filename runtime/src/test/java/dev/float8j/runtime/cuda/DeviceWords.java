package dev.float8j.runtime.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Reads raw device words back for the tests, after the work queued before has run. */
final class DeviceWords {
    private DeviceWords() {
    }

    /** count 4-byte words at address, each read as the float whose bits it holds. */
    static float[] floats(CudaBackend cuda, long address, int count) {
        cuda.synchronize();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(JAVA_INT, count);
            cuda.context().driver.copyToHost(host, address, 4L * count);
            float[] out = new float[count];
            for (int i = 0; i < count; i++) {
                out[i] = Float.intBitsToFloat(host.getAtIndex(JAVA_INT, i));
            }
            return out;
        }
    }
}
