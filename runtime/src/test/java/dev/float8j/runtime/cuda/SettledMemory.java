package dev.float8j.runtime.cuda;

/**
 * Device bytes in use once the garbage collector's cleaners have returned every unreachable tensor. The CUDA tests
 * share one backend, and tensors an earlier test dropped outside a scope are freed whenever a collection happens to
 * run: a test that compares bytes in use settles them first, so that it sees only its own allocations.
 */
final class SettledMemory {
    private SettledMemory() {
    }

    /** Collects until bytes in use read the same three times in a row (at most about two seconds). */
    static long settledBytesInUse(CudaBackend cuda) {
        long last = -1;
        for (int stable = 0, attempt = 0; stable < 3 && attempt < 100; attempt++) {
            System.gc();
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the cleaners", e);
            }
            long now = cuda.allocator().bytesInUse();
            stable = now == last ? stable + 1 : 0;
            last = now;
        }
        return last;
    }
}
