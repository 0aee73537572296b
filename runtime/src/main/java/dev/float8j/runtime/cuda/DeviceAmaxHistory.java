package dev.float8j.runtime.cuda;

import dev.float8j.plan.DelayedScaling;
import dev.float8j.runtime.quant.RingAmaxHistory;
import java.lang.ref.Cleaner;

/**
 * An amax history in GPU memory, so that a delayed cast takes its scale with nothing read by the host: the recorded
 * amaxes (a ring of historyLength words), the amax the next cast scales from (reduced from the ring by a kernel queued
 * before the cast), and the amax the last cast read, pending until {@link #commit} copies it into the ring. The host
 * keeps only the counts (RingAmaxHistory).
 */
final class DeviceAmaxHistory extends RingAmaxHistory {
    private static final Cleaner CLEANER = Cleaner.create();

    private final CudaContext cuda;
    private final DeviceBuffer ring;
    private final DeviceBuffer reduced;
    private final DeviceBuffer pending;

    DeviceAmaxHistory(CudaContext cuda, DeviceMemory memory, DelayedScaling scaling) {
        super(scaling);
        this.cuda = cuda;
        this.ring = memory.zeroedWords(scaling.historyLength());
        this.reduced = memory.zeroedWords(1);
        this.pending = memory.zeroedWords(1);
        DeviceBuffer r = ring;
        DeviceBuffer s = reduced;
        DeviceBuffer p = pending;
        CLEANER.register(this, () -> {
            r.close();
            s.close();
            p.close();
        });
    }

    boolean madeFor(CudaContext context) {
        return cuda == context;
    }

    /**
     * Queues the reduction of the recorded amaxes into the word the next cast scales from, and returns that word, for
     * {@link CudaCasts#quantizeDelayed}. The ring must not be empty.
     */
    DeviceBuffer prepareScale(CudaCasts casts) {
        if (isEmpty()) {
            throw new IllegalStateException("no amax recorded yet: the first cast scales from its own amax");
        }
        int newest = scaling().reduction() == DelayedScaling.AmaxReduction.MOST_RECENT ? newest() : -1;
        casts.reduceAmaxHistory(ring.pointer(), recorded(), newest, reduced.pointer());
        return reduced;
    }

    /** The zeroed word the cast about to be queued reports its amax into; it is pending until {@link #commit}. */
    long pendingWord() {
        cuda.driver.memset32(pending.pointer(), 0, 1, cuda.stream);
        markPending();
        return pending.pointer();
    }

    @Override
    protected void storePending(int slot) {
        cuda.driver.copyOnDevice(ring.pointer() + 4L * slot, pending.pointer(), 4, cuda.stream);
    }
}
