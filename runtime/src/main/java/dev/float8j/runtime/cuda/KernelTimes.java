package dev.float8j.runtime.cuda;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * GPU time per kernel, measured with a pair of CUDA events around every kernel launch, cuBLASLt matmul and memset
 * while it is on ({@link CudaBackend#startKernelTimes()}): where a training step's time goes, without a profiler. The
 * events cost a few microseconds of host time per launch, so turn it on for a step or two, not for the timed ones.
 *
 * <p>{@link #timelineCsv()} lists every launch in order with when the host queued it and when the GPU ran it, both
 * from the moment timing started: where the GPU waited for the host (a launch that starts as soon as it is queued,
 * after a gap), and how one kernel's calls differ.
 */
public final class KernelTimes {
    /** The GPU time of one kernel name: calls and milliseconds summed. */
    public record Entry(String kernel, int calls, double millis) {
    }

    private record Launch(String kernel, long queuedNanos, long returnedNanos, MemorySegment start, MemorySegment end) {
    }

    /**
     * One launch on the timeline: milliseconds since timing started, on the host's clock (when the launch call began
     * and returned) and on the GPU's.
     */
    public record Span(String kernel, double queuedMs, double returnedMs, double startMs, double endMs) {
    }

    private final CudaDriver driver;
    private final Deque<MemorySegment> freeEvents = new ArrayDeque<>();
    private final List<Launch> launches = new ArrayList<>();
    private final Map<String, Entry> totals = new LinkedHashMap<>();
    private final List<Span> timeline = new ArrayList<>();
    /** The event recorded when timing started, and the host's clock then. */
    private final MemorySegment origin;
    private final long originNanos;
    private MemorySegment open;
    private long openNanos;

    KernelTimes(CudaDriver driver, MemorySegment stream) {
        this.driver = driver;
        this.origin = driver.createEvent();
        this.originNanos = System.nanoTime();
        driver.record(origin, stream);
    }

    void before(MemorySegment stream) {
        open = event();
        openNanos = System.nanoTime();
        driver.record(open, stream);
    }

    void after(String kernel, MemorySegment stream) {
        long returned = System.nanoTime();
        MemorySegment end = event();
        driver.record(end, stream);
        launches.add(new Launch(kernel, openNanos, returned, open, end));
        open = null;
    }

    private MemorySegment event() {
        MemorySegment e = freeEvents.poll();
        return e != null ? e : driver.createEvent();
    }

    /** Waits for the launches recorded so far and adds their times to the totals. */
    void collect() {
        for (Launch l : launches) {
            double ms = driver.elapsedMillis(l.start(), l.end());
            double startMs = driver.elapsedMillis(origin, l.start());
            timeline.add(new Span(l.kernel(), (l.queuedNanos() - originNanos) / 1e6,
                    (l.returnedNanos() - originNanos) / 1e6, startMs, startMs + ms));
            totals.merge(l.kernel(), new Entry(l.kernel(), 1, ms),
                    (a, b) -> new Entry(a.kernel(), a.calls() + b.calls(), a.millis() + b.millis()));
            freeEvents.add(l.start());
            freeEvents.add(l.end());
        }
        launches.clear();
    }

    /** The totals by kernel, the longest first. */
    public List<Entry> entries() {
        collect();
        List<Entry> list = new ArrayList<>(totals.values());
        list.sort(Comparator.comparingDouble(Entry::millis).reversed());
        return list;
    }

    /** The sum of every kernel's time, in milliseconds. */
    public double totalMillis() {
        return entries().stream().mapToDouble(Entry::millis).sum();
    }

    /** A table of the top kernels: milliseconds, share of the total, calls and name. */
    public String table(int top) {
        List<Entry> list = entries();
        double total = list.stream().mapToDouble(Entry::millis).sum();
        StringBuilder s = new StringBuilder(String.format("%10s %6s %6s  %s%n", "ms", "share", "calls", "kernel"));
        for (Entry e : list.subList(0, Math.min(top, list.size()))) {
            s.append(String.format("%10.3f %5.1f%% %6d  %s%n", e.millis(), 100 * e.millis() / total, e.calls(), e.kernel()));
        }
        s.append(String.format("%10.3f total over %d kernels%n", total, list.size()));
        return s.toString();
    }

    /**
     * Every launch in order as CSV: kernel, queued_ms (host), call_ms (the host's time in the launch call), start_ms
     * and end_ms (GPU), gap_ms (the GPU idle before it) and lead_ms (how far ahead of the GPU the host was when it
     * queued it; near zero, the GPU waited).
     */
    public String timelineCsv() {
        collect();
        StringBuilder s = new StringBuilder("kernel,queued_ms,call_ms,start_ms,end_ms,gap_ms,lead_ms\n");
        double previousEnd = 0;
        for (Span t : timeline) {
            s.append(String.format("%s,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f%n", t.kernel().replace(',', ';'), t.queuedMs(),
                    t.returnedMs() - t.queuedMs(), t.startMs(), t.endMs(), t.startMs() - previousEnd,
                    t.startMs() - t.queuedMs()));
            previousEnd = t.endMs();
        }
        return s.toString();
    }

    void destroy() {
        collect();
        driver.destroyEvent(origin);
        freeEvents.forEach(driver::destroyEvent);
        freeEvents.clear();
    }
}
