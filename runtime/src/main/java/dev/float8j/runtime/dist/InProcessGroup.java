package dev.float8j.runtime.dist;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * A group of ranks that are threads of one JVM, for tests and for the CPU: {@link #run} starts one thread per rank,
 * each with its {@link InProcessCommunicator}. Every collective is a rendezvous: each rank deposits a copy of its
 * operand, all wait, each reads every deposit and computes its result itself, all wait again (so no deposit is
 * overwritten while another rank still reads it). Reductions run over ranks in rank order 0, 1, ..., size - 1, in
 * float32, one element at a time, so every rank gets the same bits and a run is reproducible.
 *
 * <p>A rank that throws breaks the rendezvous: the others fail at their next collective, and {@link #run} rethrows
 * the first failure.
 */
public final class InProcessGroup {
    private final int size;
    /** The rendezvous: ranks arrived in the current generation, the generation, and whether a rank failed. */
    private final Object rendezvous = new Object();
    private int arrived;
    private long generation;
    private boolean broken;
    private final Object[] deposits;
    private final String[] calls;
    private final AtomicLong bytesSent = new AtomicLong();

    private InProcessGroup(int size) {
        if (size < 1) {
            throw new IllegalArgumentException("a group needs at least one rank, got " + size);
        }
        this.size = size;
        this.deposits = new Object[size];
        this.calls = new String[size];
    }

    /** Runs perRank on size threads, one per rank, and returns their results in rank order. */
    public static <T> List<T> run(int size, Function<Communicator, T> perRank) {
        return new InProcessGroup(size).runAll(perRank);
    }

    /** Like {@link #run}, also returning the payload bytes every rank sent, summed over ranks and collectives. */
    public static <T> Traffic<T> runCounting(int size, Function<Communicator, T> perRank) {
        InProcessGroup group = new InProcessGroup(size);
        List<T> results = group.runAll(perRank);
        return new Traffic<>(results, group.bytesSent.get());
    }

    /** Results in rank order and the bytes sent: the operands each rank handed to its collectives, summed. */
    public record Traffic<T>(List<T> results, long bytesSent) {
    }

    private <T> List<T> runAll(Function<Communicator, T> perRank) {
        List<T> results = new ArrayList<>();
        Throwable[] failures = new Throwable[size];
        Thread[] threads = new Thread[size];
        for (int r = 0; r < size; r++) {
            results.add(null);
            int rank = r;
            threads[r] = Thread.ofPlatform().name("float8j-rank-" + r).unstarted(() -> {
                try {
                    results.set(rank, perRank.apply(new InProcessCommunicator(this, rank)));
                } catch (Throwable t) {
                    failures[rank] = t;
                    breakRendezvous(); // ranks in a collective, or arriving later, fail instead of waiting for ever
                }
            });
        }
        for (Thread t : threads) {
            t.start();
        }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while the ranks ran", e);
            }
        }
        Throwable first = null;
        for (Throwable f : failures) {
            // a rank that failed only because another broke the rendezvous is not the cause
            if (f != null && (first == null || first instanceof RendezvousBroken)) {
                first = f;
            }
        }
        if (first instanceof RuntimeException e) {
            throw e;
        }
        if (first instanceof Error e) {
            throw e;
        }
        if (first != null) {
            throw new IllegalStateException(first);
        }
        return results;
    }

    int size() {
        return size;
    }

    /**
     * Deposits this rank's operand under the name of its call and returns every rank's deposit, in rank order,
     * once all ranks made the same call.
     */
    Object[] exchange(int rank, String call, Object deposit, long payloadBytes) {
        deposits[rank] = deposit;
        calls[rank] = call;
        await(call);
        Object[] all = deposits.clone();
        String[] allCalls = calls.clone();
        await(call);
        bytesSent.addAndGet(payloadBytes);
        for (int r = 0; r < size; r++) {
            if (!allCalls[r].equals(allCalls[0])) {
                throw new IllegalStateException("ranks disagree on the collective: rank 0 called " + allCalls[0]
                        + ", rank " + r + " called " + allCalls[r]);
            }
        }
        return all;
    }

    /** Returns once every rank arrived; throws if a rank failed before or while this one waited. */
    private void await(String call) {
        synchronized (rendezvous) {
            if (broken) {
                throw new RendezvousBroken("another rank failed before this one reached " + call);
            }
            long mine = generation;
            if (++arrived == size) {
                arrived = 0;
                generation++;
                rendezvous.notifyAll();
                return;
            }
            while (generation == mine && !broken) {
                try {
                    rendezvous.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    breakRendezvous();
                    throw new RendezvousBroken("interrupted in " + call);
                }
            }
            if (generation == mine) {
                throw new RendezvousBroken("another rank failed while this one waited in " + call);
            }
        }
    }

    private void breakRendezvous() {
        synchronized (rendezvous) {
            broken = true;
            rendezvous.notifyAll();
        }
    }

    /** This rank stopped because another one failed first. */
    static final class RendezvousBroken extends IllegalStateException {
        RendezvousBroken(String message) {
            super(message);
        }
    }
}
