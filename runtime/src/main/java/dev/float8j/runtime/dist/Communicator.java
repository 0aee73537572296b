package dev.float8j.runtime.dist;

import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;

/**
 * The collectives of a group of {@link #size()} ranks, over tensors where they live (host tensors for
 * {@link InProcessCommunicator}, device tensors for {@code NcclCommunicator}). Every rank of the group calls the same
 * collective, in the same order, with tensors of the same shape and dtype; a call returns a new tensor and leaves its
 * argument as it was. Shards are split along dim 0 (the rows of the tensor's matrix view) and are equal in size on
 * every rank, as NCCL requires: uneven splits are padded by the caller (see {@link ShardLayout}).
 */
public interface Communicator {

    /** This process's (or thread's) index in the group, 0 to size - 1. */
    int rank();

    /** Ranks in the group. */
    int size();

    /** Every rank's shard [rows, cols] stacked in rank order: [size · rows, cols] on every rank. */
    Tensor allGather(Tensor shard);

    /**
     * Every rank's FP8 shard stacked in rank order along dim 0: the codes are concatenated, and so are the scale
     * grids, which requires each shard's scale blocks to end inside it (rows a multiple of the block's rows). A
     * shard with one scale for the whole tensor (tensorwise) must have the same scale, bit for bit, on every rank
     * (quantize with a global amax, see {@link Fp8AllGather}); the gathered tensor keeps that one scale.
     */
    Float8Tensor allGather(Float8Tensor shard);

    /**
     * {@link #allGather(Float8Tensor)} keeping the first rows rows (the real rows of a weight whose last shards are
     * padded), codes and scale grids alike.
     */
    default Float8Tensor allGather(Float8Tensor shard, int rows) {
        return Fp8AllGather.firstRows(allGather(shard), rows);
    }

    /**
     * A device shard quantized tensorwise along axis 1 with the scale of the maximum amax over every rank's shard, so
     * that every rank's codes are those of the full weight (the host form of this is in {@link Fp8AllGather}).
     *
     * @throws UnsupportedOperationException for a communicator of host tensors
     */
    default Float8Tensor quantizeWithGroupAmax(Tensor shard, QuantSpec spec) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " moves host tensors; " + shard
                + " lives on a device");
    }

    /**
     * The reduction (SUM or MEAN) over ranks of full [size · rows, cols] tensors, of which each rank gets its block
     * of rows: block r of the result on rank r.
     */
    Tensor reduceScatter(Tensor full, ReduceOp op);

    /** The reduction (SUM or MAX) over ranks of same-shaped tensors, on every rank. */
    Tensor allReduce(Tensor t, ReduceOp op);

    /** Root's tensor on every rank (the others pass a tensor of the same shape and dtype, whose values are ignored). */
    Tensor broadcast(Tensor t, int root);

    /**
     * {@link #allGather(Tensor)}, issued now and completed by {@link Pending#await}: a communicator that can run
     * collectives beside compute (a communication stream, a communication thread) returns before it is done, so the
     * caller computes meanwhile. Async and plain collectives of a rank run in the order they were issued. This default
     * runs it at once.
     */
    default Pending<Tensor> allGatherAsync(Tensor shard) {
        return Pending.done(allGather(shard));
    }

    /** {@link #allGather(Float8Tensor, int)}, issued now and completed by {@link Pending#await}. */
    default Pending<Float8Tensor> allGatherAsync(Float8Tensor shard, int rows) {
        return Pending.done(allGather(shard, rows));
    }

    /** {@link #reduceScatter}, issued now and completed by {@link Pending#await}. */
    default Pending<Tensor> reduceScatterAsync(Tensor full, ReduceOp op) {
        return Pending.done(reduceScatter(full, op));
    }

    /** Returns once every rank has called it. */
    void barrier();
}
