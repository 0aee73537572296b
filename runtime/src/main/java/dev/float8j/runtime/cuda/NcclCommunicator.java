package dev.float8j.runtime.cuda;

import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.dist.Communicator;
import dev.float8j.runtime.dist.Pending;
import dev.float8j.runtime.dist.ReduceOp;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;

/**
 * The {@link Communicator} of one process driving one GPU, over NCCL: device tensors of a {@link CudaBackend} in, new
 * device tensors out. Every collective runs on a communication stream of its own ({@link CollectiveStream}), ordered
 * after the compute-stream work that made its operands by an event; the async forms return at once and their
 * {@link Pending#await} makes the compute stream wait for the collective's event (no host wait), so the kernels
 * queued between issue and await overlap the collective. The plain forms are issue-then-await. Only
 * {@link #barrier} waits on the host.
 *
 * <p>One process per GPU, not one process driving every GPU: float8j's CUDA stack (context, stream, allocator,
 * compiled kernels) is one per process, and the rank of a process is its GPU, as with torchrun. Rank 0 makes a unique
 * id ({@link #newUniqueId}) and hands it to the other processes (a file, the launcher's environment); each then calls
 * {@link #create} with its rank, which blocks until all have joined. NVLink multicast stays off (NCCL_NVLS_ENABLE=0).
 */
public final class NcclCommunicator implements Communicator, AutoCloseable {
    private final Nccl nccl;
    private final CudaBackend backend;
    private final MemorySegment comm;
    private final CollectiveStream collectives;
    private final int rank;
    private final int size;
    private boolean closed;

    private NcclCommunicator(Nccl nccl, CudaBackend backend, MemorySegment comm, int rank, int size) {
        this.nccl = nccl;
        this.backend = backend;
        this.comm = comm;
        this.collectives = new CollectiveStream(backend.context().driver, backend.stream());
        this.rank = rank;
        this.size = size;
    }

    /**
     * A unique id for a new group, made once (by rank 0) and passed to every rank's {@link #create}.
     *
     * @throws CudaUnavailableException naming every file tried when NCCL cannot be loaded
     */
    public static byte[] newUniqueId() {
        return Nccl.load().uniqueId();
    }

    /** Joins the group of size ranks named by uniqueId as rank, on backend's GPU; blocks until every rank joined. */
    public static NcclCommunicator create(CudaBackend backend, byte[] uniqueId, int rank, int size) {
        if (size < 1 || rank < 0 || rank >= size) {
            throw new IllegalArgumentException("rank " + rank + " is not in a group of " + size);
        }
        Nccl nccl = Nccl.load();
        return new NcclCommunicator(nccl, backend, nccl.initRank(size, uniqueId, rank), rank, size);
    }

    /** The NCCL file loaded and its version code (e.g. 22703 for 2.27.3). */
    public String library() {
        return nccl.loadedFrom() + " (version " + nccl.version() + ")";
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public Tensor allGather(Tensor shard) {
        return allGatherAsync(shard).await();
    }

    @Override
    public Pending<Tensor> allGatherAsync(Tensor shard) {
        DeviceTensor in = device(shard);
        int[] shape = shard.shape();
        shape[0] *= size;
        Tensor out = backend.wrap(backend.allocate(in.rows() * size, in.cols(), in.dtype()), shape);
        DeviceTensor o = CudaBackend.deviceTensorOf(out);
        return collectives.issue((stream, temporaries) -> {
            nccl.allGather(in.pointer(), o.pointer(), shard.size(), type(shard.dtype()), comm, stream);
            return out;
        }, shard, out);
    }

    /**
     * Every rank's FP8 shard (a device tensor quantized along axis 1) stacked in rank order, in the layout the
     * backend's own quantization of the stacked weight has ({@link DeviceFp8Gather}).
     */
    @Override
    public Float8Tensor allGather(Float8Tensor shard) {
        return allGather(shard, shard.rows() * size);
    }

    @Override
    public Float8Tensor allGather(Float8Tensor shard, int rows) {
        return allGatherAsync(shard, rows).await();
    }

    @Override
    public Pending<Float8Tensor> allGatherAsync(Float8Tensor shard, int rows) {
        requireOpen();
        if (!shard.isOnDevice()) {
            throw new IllegalArgumentException(shard + " lives on the host; NCCL moves device tensors: quantize the"
                    + " device shard");
        }
        try {
            DeviceFloat8 stored = DeviceMemory.ours(shard).fp8;
            if (!stored.spec().equals(shard.spec())) {
                throw new IllegalArgumentException(shard + " is the other-axis view of a " + stored + "; gather the"
                        + " tensor as it was quantized");
            }
            DeviceFp8Gather gather = new DeviceFp8Gather(backend.context(), backend.casts(), nccl, comm, size);
            DeviceFloat8 out = gather.allocateResult(stored, rows);
            Float8Tensor result = backend.wrap(out, shard.originalDType(), new int[] {rows, shard.cols()});
            return collectives.issue((stream, temporaries) -> {
                gather.gather(stored, out, stream, temporaries);
                return result;
            }, shard, result);
        } finally {
            Reference.reachabilityFence(shard);
        }
    }

    /**
     * The shard cast tensorwise with the maximum over ranks of the shards' amax: an NCCL all-reduce (MAX on the
     * amax's float bits as uint32, so a NaN, above +Inf, wins and every rank's cast reports it) on the communication
     * stream, after the amax kernel and before the cast, which the compute stream queues once it waited for it.
     */
    @Override
    public Float8Tensor quantizeWithGroupAmax(Tensor shard, QuantSpec spec) {
        DeviceTensor in = device(shard);
        try {
            // the amax word belongs to the cast, which uses it after this returns: issue and await at once
            DeviceFloat8 q = backend.casts().quantizeTensorwise(in, spec, amax -> collectives.issue(
                    (stream, temporaries) -> {
                        nccl.allReduce(amax.pointer(), amax.pointer(), 1, Nccl.UINT32, Nccl.MAX, comm, stream);
                        return null;
                    }).await());
            return backend.wrap(q, shard.dtype(), shard.shape());
        } finally {
            Reference.reachabilityFence(shard);
        }
    }

    @Override
    public Tensor reduceScatter(Tensor full, ReduceOp op) {
        return reduceScatterAsync(full, op).await();
    }

    @Override
    public Pending<Tensor> reduceScatterAsync(Tensor full, ReduceOp op) {
        if (op == ReduceOp.MAX) {
            throw new IllegalArgumentException("reduceScatter sums or averages; MAX is for allReduce");
        }
        if (full.dim(0) % size != 0) {
            throw new IllegalArgumentException("reduceScatter of " + full + ": dim 0 must split evenly into " + size);
        }
        DeviceTensor in = device(full);
        int[] shape = full.shape();
        shape[0] /= size;
        Tensor out = backend.wrap(backend.allocate(in.rows() / size, in.cols(), in.dtype()), shape);
        DeviceTensor o = CudaBackend.deviceTensorOf(out);
        return collectives.issue((stream, temporaries) -> {
            nccl.reduceScatter(in.pointer(), o.pointer(), full.size() / size, type(full.dtype()),
                    op == ReduceOp.SUM ? Nccl.SUM : Nccl.AVG, comm, stream);
            return out;
        }, full, out);
    }

    @Override
    public Tensor allReduce(Tensor t, ReduceOp op) {
        if (op == ReduceOp.MEAN) {
            throw new IllegalArgumentException("allReduce sums or takes the maximum; divide a SUM for a mean");
        }
        DeviceTensor in = device(t);
        Tensor out = backend.wrap(backend.allocate(in.rows(), in.cols(), in.dtype()), t.shape());
        DeviceTensor o = CudaBackend.deviceTensorOf(out);
        return collectives.issue((stream, temporaries) -> {
            nccl.allReduce(in.pointer(), o.pointer(), t.size(), type(t.dtype()), op == ReduceOp.SUM ? Nccl.SUM : Nccl.MAX,
                    comm, stream);
            return out;
        }, t, out).await();
    }

    @Override
    public Tensor broadcast(Tensor t, int root) {
        if (root < 0 || root >= size) {
            throw new IllegalArgumentException("root " + root + " is not a rank of a group of " + size);
        }
        DeviceTensor in = device(t);
        Tensor out = backend.wrap(backend.allocate(in.rows(), in.cols(), in.dtype()), t.shape());
        DeviceTensor o = CudaBackend.deviceTensorOf(out);
        return collectives.issue((stream, temporaries) -> {
            nccl.broadcast(in.pointer(), o.pointer(), t.size(), type(t.dtype()), root, comm, stream);
            return out;
        }, t, out).await();
    }

    /**
     * An all-reduce of one float, then a wait for the compute stream (which waited for the all-reduce): every rank has
     * reached it and all work before it is done.
     */
    @Override
    public void barrier() {
        Tensor one = backend.toDevice(Tensor.of(new float[] {1f}, 1, 1));
        allReduce(one, ReduceOp.SUM);
        backend.synchronize();
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            collectives.close();
            nccl.destroy(comm);
        }
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("this NCCL communicator is closed");
        }
    }

    private DeviceTensor device(Tensor t) {
        requireOpen();
        if (!t.isOnDevice()) {
            throw new IllegalArgumentException(t + " lives on the host; NCCL moves device tensors: backend.toDevice(t)");
        }
        return CudaBackend.deviceTensorOf(t);
    }

    private static int type(DType dtype) {
        return switch (dtype) {
            case F32 -> Nccl.FLOAT32;
            case BF16 -> Nccl.BFLOAT16;
        };
    }

    @Override
    public String toString() {
        return "NcclCommunicator[rank " + rank + " of " + size + ", " + nccl.loadedFrom() + "]";
    }
}
