package dev.float8j.runtime.cpu;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * The worker threads of one CPU backend. The default thread count is set in one place, the system
 * property {@code float8j.threads} (default: every available processor).
 */
final class CpuThreads {
    static final String PROPERTY = "float8j.threads";
    private static final AtomicInteger POOLS = new AtomicInteger();

    private final int count;
    private final ExecutorService workers;

    CpuThreads(int count) {
        if (count < 1) {
            throw new IllegalArgumentException("thread count must be at least 1, got " + count);
        }
        this.count = count;
        int pool = POOLS.incrementAndGet();
        AtomicInteger index = new AtomicInteger();
        this.workers = count == 1 ? null : Executors.newFixedThreadPool(count - 1, r -> {
            Thread t = new Thread(r, "float8j-cpu-" + pool + "-" + index.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    static int defaultCount() {
        return Integer.getInteger(PROPERTY, Runtime.getRuntime().availableProcessors());
    }

    int count() {
        return count;
    }

    /**
     * Runs body(0) .. body(items-1) on at most {@link #count()} threads, each taking the next unclaimed item, so
     * items of unequal cost balance out. What an item computes must depend on its index only (not on which
     * thread ran it), which keeps results independent of the thread count.
     */
    void forEachItem(int items, IntConsumer body) {
        if (items == 0) {
            return;
        }
        AtomicInteger next = new AtomicInteger();
        forEach(Math.min(count, items), worker -> {
            for (int item = next.getAndIncrement(); item < items; item = next.getAndIncrement()) {
                body.accept(item);
            }
        });
    }

    /** Runs body(0) .. body(tasks-1), task 0 on the calling thread, and waits for all of them. */
    void forEach(int tasks, IntConsumer body) {
        if (tasks == 1 || workers == null) {
            for (int t = 0; t < tasks; t++) {
                body.accept(t);
            }
            return;
        }
        Future<?>[] futures = new Future<?>[tasks - 1];
        for (int t = 1; t < tasks; t++) {
            int task = t;
            futures[t - 1] = workers.submit(() -> body.accept(task));
        }
        Throwable failure = null;
        try {
            body.accept(0);
        } catch (RuntimeException | Error e) {
            failure = e;
        }
        for (Future<?> f : futures) {
            try {
                f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                failure = failure == null ? e : failure;
            } catch (java.util.concurrent.ExecutionException e) {
                failure = failure == null ? e.getCause() : failure;
            }
        }
        if (failure instanceof RuntimeException r) {
            throw r;
        }
        if (failure instanceof Error err) {
            throw err;
        }
        if (failure != null) {
            throw new IllegalStateException("a float8j CPU worker failed", failure);
        }
    }
}
