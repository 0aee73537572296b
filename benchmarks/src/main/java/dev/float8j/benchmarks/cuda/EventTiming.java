package dev.float8j.benchmarks.cuda;

import dev.float8j.runtime.cuda.CudaBackend;

/** GPU time of repeated work, between CUDA events on a backend's stream. */
final class EventTiming {
    private EventTiming() {
    }

    /** Mean milliseconds per call over repeats calls of work, after warmup calls that are not timed. */
    static double meanMillis(CudaBackend backend, int warmup, int repeats, Runnable work) {
        for (int i = 0; i < warmup; i++) {
            work.run();
        }
        CudaBackend.Event start = backend.newEvent();
        CudaBackend.Event end = backend.newEvent();
        backend.synchronize();
        backend.record(start);
        for (int i = 0; i < repeats; i++) {
            work.run();
        }
        backend.record(end);
        backend.synchronize();
        return backend.elapsedMillis(start, end) / repeats;
    }
}
