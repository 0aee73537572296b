package dev.float8j.runtime.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.float8j.runtime.quant.NonFiniteException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * NaN and Inf in the inputs of GPU casts. A cast kernel that meets a non-finite amax cannot throw, and reading
 * a flag back after every cast would stall the stream; so each cast gets a number, the kernel lowers one
 * device word to the number of the first cast that failed (atomicMin), and the host reads that word whenever
 * it waits for the GPU anyway (synchronize, download) and throws {@link NonFiniteException} naming the cast.
 */
final class CastFaults {
    private static final int NONE = -1;  // 0xFFFFFFFF, above every cast number
    /** Descriptions of the most recent casts, by number modulo the length. */
    private final String[] recent = new String[4096];
    private final CudaDriver driver;
    private final MemorySegment stream;
    private final long word;  // driver memory, outside the allocator's accounting; lives as long as the process
    private int next;

    CastFaults(CudaDriver driver, MemorySegment stream) {
        this.driver = driver;
        this.stream = stream;
        this.word = driver.malloc(4);
        driver.memset32(word, NONE, 1, stream);
    }

    long pointer() {
        return word;
    }

    /** Numbers a cast about to be queued; its description is used if the cast meets NaN or Inf. */
    int register(String description) {
        if (next < 0) {
            next = 0;  // after 2^31 casts the numbers start again
        }
        int id = next++;
        recent[id % recent.length] = description;
        return id;
    }

    /** Throws if a cast queued before the last synchronization met NaN or Inf; the caller has synchronized. */
    void check() {
        int failed;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(JAVA_INT);
            driver.copyToHost(host, word, 4);
            failed = host.get(JAVA_INT, 0);
        }
        if (failed == NONE) {
            return;
        }
        driver.memset32(word, NONE, 1, stream);
        driver.synchronize(stream);
        String what = failed >= 0 && failed < next && next - failed <= recent.length ? recent[failed % recent.length]
                : "the input of GPU cast number " + failed;
        throw new NonFiniteException(what);
    }
}
