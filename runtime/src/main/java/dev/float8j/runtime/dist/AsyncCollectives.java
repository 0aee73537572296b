package dev.float8j.runtime.dist;

import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;

/**
 * A host communicator whose collectives run on one communication thread of this rank, in the order they were
 * issued, so that the async ones ({@link #allGatherAsync}, {@link #reduceScatterAsync}) return at once and the
 * caller computes while they run: the CPU counterpart of NCCL on a communication stream, for testing overlap logic.
 * Plain collectives wait for everything issued before them, as a stream would, so every rank still calls the
 * collectives of the wrapped group in one order. Close it to stop the thread.
 */
public final class AsyncCollectives implements Communicator, AutoCloseable {
    private final Communicator inner;
    private final ExecutorService thread;

    public AsyncCollectives(Communicator inner) {
        this.inner = inner;
        this.thread = Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().daemon()
                .name("float8j-comm-rank-" + inner.rank()).unstarted(r));
    }

    private <T> Pending<T> issue(Supplier<T> collective) {
        CompletableFuture<T> result = CompletableFuture.supplyAsync(collective, thread);
        return () -> {
            try {
                return result.join();
            } catch (CompletionException e) {
                if (e.getCause() instanceof RuntimeException r) {
                    throw r;
                }
                if (e.getCause() instanceof Error err) {
                    throw err;
                }
                throw e;
            }
        };
    }

    @Override
    public int rank() {
        return inner.rank();
    }

    @Override
    public int size() {
        return inner.size();
    }

    @Override
    public Pending<Tensor> allGatherAsync(Tensor shard) {
        return issue(() -> inner.allGather(shard));
    }

    @Override
    public Pending<Float8Tensor> allGatherAsync(Float8Tensor shard, int rows) {
        return issue(() -> inner.allGather(shard, rows));
    }

    @Override
    public Pending<Tensor> reduceScatterAsync(Tensor full, ReduceOp op) {
        return issue(() -> inner.reduceScatter(full, op));
    }

    @Override
    public Tensor allGather(Tensor shard) {
        return allGatherAsync(shard).await();
    }

    @Override
    public Float8Tensor allGather(Float8Tensor shard) {
        return issue(() -> inner.allGather(shard)).await();
    }

    @Override
    public Float8Tensor allGather(Float8Tensor shard, int rows) {
        return allGatherAsync(shard, rows).await();
    }

    @Override
    public Float8Tensor quantizeWithGroupAmax(Tensor shard, QuantSpec spec) {
        return issue(() -> inner.quantizeWithGroupAmax(shard, spec)).await();
    }

    @Override
    public Tensor reduceScatter(Tensor full, ReduceOp op) {
        return reduceScatterAsync(full, op).await();
    }

    @Override
    public Tensor allReduce(Tensor t, ReduceOp op) {
        return issue(() -> inner.allReduce(t, op)).await();
    }

    @Override
    public Tensor broadcast(Tensor t, int root) {
        return issue(() -> inner.broadcast(t, root)).await();
    }

    @Override
    public void barrier() {
        issue(() -> {
            inner.barrier();
            return null;
        }).await();
    }

    @Override
    public void close() {
        thread.shutdown();
    }
}
