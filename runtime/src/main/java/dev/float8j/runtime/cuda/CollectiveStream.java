package dev.float8j.runtime.cuda;

import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.dist.Pending;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.BiFunction;

/**
 * A second CUDA stream for NCCL collectives, beside the backend's compute stream, so that a collective runs while the
 * kernels queued after it compute. The two streams are ordered with events, never with a host wait:
 *
 * <ol>
 *   <li>issue: an event recorded on the compute stream, which the communication stream waits for, so the collective
 *       reads its operands after the kernels that wrote them (and writes its result after the last compute-stream
 *       use of the blocks the allocator handed out for it);</li>
 *   <li>the collective is queued on the communication stream, then an event recorded there;</li>
 *   <li>{@link Pending#await}: the compute stream waits for that event, so what is queued on it afterwards reads
 *       the result.</li>
 * </ol>
 *
 * <p><b>Memory.</b> The caching allocator ({@link DeviceAllocator}) stays ordered by the compute stream alone: a block
 * released is handed out again at once to work queued later on the compute stream. A collective's device memory
 * (operand, result, temporaries) is therefore kept referenced by its handle until the compute stream waited for the
 * collective (await), and its device tensors are pinned ({@link Resident#pin}) so that releasing one meanwhile frees it
 * only then: from then on any later user of those blocks is queued after the collective on the compute
 * stream, which is the allocator's one-stream rule again. A handle never awaited keeps its memory until
 * {@link #close} waits for the communication stream. Buffers a collective allocates must be allocated before the
 * issue event is recorded if their allocation queues work (a memset) on the compute stream.
 */
final class CollectiveStream implements AutoCloseable {
    private final CudaDriver driver;
    private final MemorySegment compute;
    private final MemorySegment stream;
    /** Issued and not awaited yet: each holds its collective's memory. */
    private final Set<InFlight<?>> inFlight = new LinkedHashSet<>();
    private boolean closed;

    CollectiveStream(CudaDriver driver, MemorySegment compute) {
        this.driver = driver;
        this.compute = compute;
        // non-blocking: a synchronous host copy (on the legacy default stream) mid-step does not wait for a collective
        // in flight; nothing relies on that wait, since results are read only after the compute stream waited for them
        this.stream = driver.createStream(CudaDriver.STREAM_NON_BLOCKING);
    }

    /** The communication stream, for collectives that order themselves (a barrier's wait). */
    MemorySegment stream() {
        return stream;
    }

    /**
     * Queues a collective on the communication stream after everything queued so far on the compute stream.
     * collective gets the stream and a list to which it adds buffers to release once the compute stream waited for
     * it; held are tensors (operands, results) kept reachable until then.
     */
    synchronized <T> Pending<T> issue(BiFunction<MemorySegment, List<AutoCloseable>, T> collective, Object... held) {
        if (closed) {
            throw new IllegalStateException("the communication stream is closed");
        }
        MemorySegment ready = driver.createEvent(CudaDriver.EVENT_DISABLE_TIMING);
        try {
            driver.record(ready, compute);
            driver.waitEvent(stream, ready);
        } finally {
            driver.destroyEvent(ready); // released by the driver once its recorded work completes
        }
        List<AutoCloseable> temporaries = new ArrayList<>();
        for (Resident r : residents(held)) {
            r.pin();
            temporaries.add(r::unpin);
        }
        T result;
        try {
            result = collective.apply(stream, temporaries);
        } catch (RuntimeException | Error e) {
            // whatever was queued before the failure completes before the compute stream goes on
            InFlight<Object> partial = new InFlight<>(recordDone(), null, temporaries, held);
            partial.await();
            throw e;
        }
        InFlight<T> op = new InFlight<>(recordDone(), result, temporaries, held);
        inFlight.add(op);
        return op;
    }

    /** The device memory behind the tensors among held. */
    private static List<Resident> residents(Object[] held) {
        List<Resident> out = new ArrayList<>();
        for (Object o : held) {
            if (o instanceof Tensor t && t.isOnDevice()) {
                out.add(DeviceMemory.ours(t, t.deviceData()));
            } else if (o instanceof Float8Tensor q && q.isOnDevice()) {
                out.add(DeviceMemory.ours(q));
            }
        }
        return out;
    }

    private MemorySegment recordDone() {
        MemorySegment done = driver.createEvent(CudaDriver.EVENT_DISABLE_TIMING);
        driver.record(done, stream);
        return done;
    }

    /** Waits on the host for every queued collective, releases the memory of those not awaited, destroys the stream. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        driver.synchronize(stream);
        for (InFlight<?> op : List.copyOf(inFlight)) {
            op.await();
        }
        closed = true;
        driver.destroyStream(stream);
    }

    private final class InFlight<T> implements Pending<T> {
        private MemorySegment done;
        private final T result;
        private final List<AutoCloseable> temporaries;
        @SuppressWarnings("unused") // kept reachable: the cleaners of these tensors must not run before await
        private Object[] held;

        InFlight(MemorySegment done, T result, List<AutoCloseable> temporaries, Object[] held) {
            this.done = done;
            this.result = result;
            this.temporaries = temporaries;
            this.held = held;
        }

        @Override
        public T await() {
            synchronized (CollectiveStream.this) {
                if (done != null) {
                    driver.waitEvent(compute, done);
                    driver.destroyEvent(done);
                    done = null;
                    // the compute stream is now behind the collective: its memory follows the one-stream rule again
                    for (AutoCloseable t : temporaries) {
                        try {
                            t.close();
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    }
                    temporaries.clear();
                    held = null;
                    inFlight.remove(this);
                }
            }
            return result;
        }
    }
}
