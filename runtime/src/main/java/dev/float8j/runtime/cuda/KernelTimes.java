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
 * GPU time per kernel, measured with a pair of CUDA events around every kernel launch and cuBLASLt matmul while it
 * is on ({@link CudaBackend#startKernelTimes()}): where a training step's time goes, without a profiler. The events
 * cost a few microseconds of host time per launch, so turn it on for a step or two, not for the timed ones.
 */
public final class KernelTimes {
    /** The GPU time of one kernel name: calls and milliseconds summed. */
    public record Entry(String kernel, int calls, double millis) {
    }

    private record Launch(String kernel, MemorySegment start, MemorySegment end) {
    }

    private final CudaDriver driver;
    private final Deque<MemorySegment> freeEvents = new ArrayDeque<>();
    private final List<Launch> launches = new ArrayList<>();
    private final Map<String, Entry> totals = new LinkedHashMap<>();
    private MemorySegment open;

    KernelTimes(CudaDriver driver) {
        this.driver = driver;
    }

    void before(MemorySegment stream) {
        open = event();
        driver.record(open, stream);
    }

    void after(String kernel, MemorySegment stream) {
        MemorySegment end = event();
        driver.record(end, stream);
        launches.add(new Launch(kernel, open, end));
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

    void destroy() {
        collect();
        freeEvents.forEach(driver::destroyEvent);
        freeEvents.clear();
    }
}
