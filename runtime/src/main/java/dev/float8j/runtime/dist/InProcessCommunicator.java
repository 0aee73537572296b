package dev.float8j.runtime.dist;

import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import java.util.Arrays;

/**
 * One rank of an {@link InProcessGroup}: the collectives over host tensors, with the group's deterministic order
 * (reductions in float32 over ranks 0, 1, ..., size - 1; results in the operand's dtype).
 */
final class InProcessCommunicator implements Communicator {
    private final InProcessGroup group;
    private final int rank;

    InProcessCommunicator(InProcessGroup group, int rank) {
        this.group = group;
        this.rank = rank;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return group.size();
    }

    @Override
    public Tensor allGather(Tensor shard) {
        requireHost(shard);
        Object[] all = group.exchange(rank, "allGather " + describe(shard), shard.copy(), shard.bytes());
        int n = shard.size();
        float[] out = new float[n * size()];
        for (int r = 0; r < size(); r++) {
            System.arraycopy(((Tensor) all[r]).toFloatArray(), 0, out, r * n, n);
        }
        return shaped(out, shard.dtype(), stackedShape(shard.shape(), size()));
    }

    @Override
    public Float8Tensor allGather(Float8Tensor shard) {
        if (shard.isOnDevice()) {
            throw new IllegalArgumentException(shard + " lives on a device; the in-process communicator moves host tensors");
        }
        boolean tensorwise = shard.granularity() == ScalingGranularity.TENSORWISE;
        int blockRowsExtent = shard.axis() == 0 ? shard.granularity().extentAlongAxis()
                : shard.granularity().extentAcrossAxis();
        if (!tensorwise && (blockRowsExtent == 0 || shard.rows() % blockRowsExtent != 0)) {
            throw new IllegalArgumentException("cannot gather " + shard + " along dim 0: "
                    + (blockRowsExtent == 0 ? "one scale spans every row, so every rank's rows share it"
                            : "its " + shard.rows() + " rows are not whole blocks of " + blockRowsExtent));
        }
        Float8Tensor copy = new Float8Tensor(shard.codes().clone(), shard.scales(), shard.spec(), shard.originalDType(),
                shard.shape());
        Object[] all = group.exchange(rank, "allGather " + shard, copy, shard.bytes());
        int codesPerShard = shard.codes().length;
        int scalesPerShard = shard.scaleRows() * shard.scaleCols();
        byte[] codes = new byte[codesPerShard * size()];
        float[] scales = new float[tensorwise ? 1 : scalesPerShard * size()];
        for (int r = 0; r < size(); r++) {
            Float8Tensor q = (Float8Tensor) all[r];
            System.arraycopy(q.codes(), 0, codes, r * codesPerShard, codesPerShard);
            float[] s = q.scalesForBackend();
            if (tensorwise) {
                if (Float.floatToRawIntBits(s[0]) != Float.floatToRawIntBits(((Float8Tensor) all[0]).scale(0, 0))) {
                    throw new IllegalArgumentException("tensorwise shards need one scale on every rank: rank 0 has "
                            + ((Float8Tensor) all[0]).scale(0, 0) + ", rank " + r + " has " + s[0]
                            + " (quantize with the all-reduced amax, see Fp8AllGather)");
                }
                scales[0] = s[0];
            } else {
                System.arraycopy(s, 0, scales, r * scalesPerShard, scalesPerShard);
            }
        }
        return new Float8Tensor(codes, scales, shard.spec(), shard.originalDType(), stackedShape(shard.shape(), size()));
    }

    @Override
    public Tensor reduceScatter(Tensor full, ReduceOp op) {
        requireHost(full);
        if (op == ReduceOp.MAX) {
            throw new IllegalArgumentException("reduceScatter sums or averages; MAX is for allReduce");
        }
        if (full.dim(0) % size() != 0) {
            throw new IllegalArgumentException("reduceScatter of " + full + ": dim 0 (" + full.dim(0)
                    + ") must split evenly into " + size() + " blocks (pad it, see ShardLayout)");
        }
        Object[] all = group.exchange(rank, "reduceScatter " + op + " " + describe(full), full.copy(), full.bytes());
        int block = full.size() / size();
        float[] out = reduce(all, rank * block, block, op);
        int[] shape = full.shape();
        shape[0] /= size();
        return shaped(out, full.dtype(), shape);
    }

    @Override
    public Tensor allReduce(Tensor t, ReduceOp op) {
        requireHost(t);
        if (op == ReduceOp.MEAN) {
            throw new IllegalArgumentException("allReduce sums or takes the maximum; divide a SUM for a mean");
        }
        Object[] all = group.exchange(rank, "allReduce " + op + " " + describe(t), t.copy(), t.bytes());
        return shaped(reduce(all, 0, t.size(), op), t.dtype(), t.shape());
    }

    @Override
    public Tensor broadcast(Tensor t, int root) {
        requireHost(t);
        if (root < 0 || root >= size()) {
            throw new IllegalArgumentException("root " + root + " is not a rank of a group of " + size());
        }
        Object[] all = group.exchange(rank, "broadcast from " + root + " " + describe(t), rank == root ? t.copy() : null,
                rank == root ? t.bytes() : 0);
        return ((Tensor) all[root]).copy();
    }

    @Override
    public void barrier() {
        group.exchange(rank, "barrier", null, 0);
    }

    /** Elements [from, from + count) of every deposit, combined over ranks in rank order. */
    private float[] reduce(Object[] all, int from, int count, ReduceOp op) {
        float[] out = Arrays.copyOfRange(((Tensor) all[0]).toFloatArray(), from, from + count);
        for (int r = 1; r < all.length; r++) {
            float[] other = ((Tensor) all[r]).toFloatArray();
            for (int i = 0; i < count; i++) {
                float v = other[from + i];
                out[i] = op == ReduceOp.MAX ? Math.max(out[i], v) : out[i] + v;
            }
        }
        if (op == ReduceOp.MEAN) {
            for (int i = 0; i < count; i++) {
                out[i] /= all.length;
            }
        }
        return out;
    }

    private static Tensor shaped(float[] data, DType dtype, int[] shape) {
        Tensor t = Tensor.of(data, shape);
        return dtype == DType.F32 ? t : t.to(dtype);
    }

    private static int[] stackedShape(int[] shape, int ranks) {
        int[] out = shape.clone();
        out[0] *= ranks;
        return out;
    }

    private static String describe(Tensor t) {
        return t.dtype() + Arrays.toString(t.shape());
    }

    private static void requireHost(Tensor t) {
        if (t.isOnDevice()) {
            throw new IllegalArgumentException(t + " lives on a device; the in-process communicator moves host tensors");
        }
    }
}
