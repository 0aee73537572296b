package dev.float8j.runtime.cuda;

import static dev.float8j.runtime.cuda.DeviceFloat8.ceilDiv;

import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * The NCCL all-gather of FP8 shards into the device layout the gemm reads ({@link DeviceFloat8}), for weights
 * quantized along K (axis 1) and sharded along their rows: the result is the layout the CUDA backend's own
 * quantization of the full weight has, so a layer cannot tell the two apart. Every collective of one gather is
 * queued in one NCCL group on the given stream:
 *
 * <ul>
 *   <li>codes: [rows][ld] per shard, rows contiguous, so one uint8 all-gather of rowsPerRank · ld bytes stacks them;</li>
 *   <li>tensorwise: the shard's one scale, the same on every rank (cast with the all-reduced amax), copied;</li>
 *   <li>rowwise and 1xT tiles (1x128, MX 1x32): scales [tiles][ldScale] with the row fastest; one float all-gather of
 *       each shard's whole array (scales and inverses), then a kernel puts each rank's run of rows at its place in
 *       the full weight's [tiles][roundUp(rows, 16)];</li>
 *   <li>128x128 blocks: scales [rows / 128][stride], whole blocks per shard, so one float all-gather stacks them; a
 *       shard of rows that are not whole 128-row blocks is refused.</li>
 * </ul>
 *
 * Zero padding rows quantize to zero codes; they are cut off (the result has the real rows only).
 */
final class DeviceFp8Gather {
    private final CudaContext cuda;
    private final CudaCasts casts;
    private final Nccl nccl;
    private final MemorySegment comm;
    private final int ranks;

    DeviceFp8Gather(CudaContext cuda, CudaCasts casts, Nccl nccl, MemorySegment comm, int ranks) {
        this.cuda = cuda;
        this.casts = casts;
        this.nccl = nccl;
        this.comm = comm;
        this.ranks = ranks;
    }

    /**
     * Checks that shard can be gathered keeping rows rows, and allocates the result (its padding zeroed on the
     * backend's compute stream, so call it before the collective's stream is ordered after that one).
     *
     * @throws IllegalArgumentException for a shard along axis 0, 128x128 blocks that a shard splits, or rows outside
     *     the last rank's shard
     */
    DeviceFloat8 allocateResult(DeviceFloat8 shard, int rows) {
        QuantSpec spec = shard.spec();
        int rowsPerRank = shard.rows();
        long gatheredRows = (long) rowsPerRank * ranks;
        if (spec.axis() != 1) {
            throw new IllegalArgumentException("the device FP8 all-gather stacks shards of rows quantized along K (axis 1);"
                    + " " + shard + " is along axis 0: gather the weight, then quantize it");
        }
        if (rows <= gatheredRows - rowsPerRank || rows > gatheredRows) {
            throw new IllegalArgumentException(rows + " real rows do not end in the last of " + ranks + " shards of "
                    + rowsPerRank + " rows");
        }
        ScalingGranularity g = spec.granularity();
        if (g == ScalingGranularity.BLOCK_128X128 && rowsPerRank % 128 != 0) {
            throw new IllegalArgumentException("128x128 blocks need shards of whole 128-row blocks; this shard has "
                    + rowsPerRank + " rows (shard with ShardLayout.of(rows, cols, ranks, 128))");
        }
        return casts.allocateCopy(spec, rows, shard.cols());
    }

    /**
     * The first out.rows() rows of every rank's shard stacked in rank order, written into out (from
     * {@link #allocateResult}), queued on stream; the temporary buffers it queued work on are added to temporaries,
     * for the caller to release once the compute stream is ordered after stream.
     */
    void gather(DeviceFloat8 shard, DeviceFloat8 out, MemorySegment stream, List<AutoCloseable> temporaries) {
        QuantSpec spec = shard.spec();
        ScalingGranularity g = spec.granularity();
        int rowsPerRank = shard.rows();
        int rows = out.rows();
        List<Runnable> afterGroup = new ArrayList<>();
        nccl.groupStart();
        try {
            gatherPrefix(shard.codes().pointer(), (long) rowsPerRank * shard.ld(), Nccl.UINT8, 1, out.codes(),
                    (long) rows * shard.ld(), stream, temporaries, afterGroup);
            switch (g) {
                case TENSORWISE -> afterGroup.add(() -> {
                    cuda.driver.copyOnDevice(out.scales().pointer(), shard.scales().pointer(), 4, stream);
                    cuda.driver.copyOnDevice(out.inverseScales().pointer(), shard.inverseScales().pointer(), 4, stream);
                });
                case BLOCK_128X128 -> {
                    long perShard = (long) rowsPerRank / 128 * shard.ldScale();
                    long kept = (long) ceilDiv(rows, 128) * out.ldScale();
                    gatherPrefix(shard.scales().pointer(), perShard, Nccl.FLOAT32, 4, out.scales(), 4 * kept, stream,
                            temporaries, afterGroup);
                    gatherPrefix(shard.inverseScales().pointer(), perShard, Nccl.FLOAT32, 4, out.inverseScales(),
                            4 * kept, stream, temporaries, afterGroup);
                }
                default -> { // rowwise and 1xT tiles along K: scales [tiles][ldScale], the row fastest
                    int tiles = ceilDiv(shard.cols(), spec.blockCols(shard.cols()));
                    long perShard = (long) tiles * shard.ldScale();
                    gatherTileScales(shard.scales(), out.scales(), perShard, tiles, shard.ldScale(), rowsPerRank,
                            rows, out.ldScale(), stream, temporaries, afterGroup);
                    gatherTileScales(shard.inverseScales(), out.inverseScales(), perShard, tiles, shard.ldScale(),
                            rowsPerRank, rows, out.ldScale(), stream, temporaries, afterGroup);
                }
            }
        } finally {
            nccl.groupEnd();
        }
        afterGroup.forEach(Runnable::run);
    }

    /**
     * All-gathers count elements from every rank and keeps the first keptBytes of the stacked result in dest:
     * directly when dest holds the whole stack, else through a temporary and a copy after the group.
     */
    private void gatherPrefix(long send, long count, int type, int elementBytes, DeviceBuffer dest, long keptBytes,
            MemorySegment stream, List<AutoCloseable> temporaries, List<Runnable> afterGroup) {
        long stackBytes = count * elementBytes * ranks;
        if (stackBytes <= dest.bytes()) {
            nccl.allGather(send, dest.pointer(), count, type, comm, stream);
            return;
        }
        DeviceBuffer stack = cuda.allocator.allocate(stackBytes);
        temporaries.add(stack);
        nccl.allGather(send, stack.pointer(), count, type, comm, stream);
        afterGroup.add(() -> cuda.driver.copyOnDevice(dest.pointer(), stack.pointer(), keptBytes, stream));
    }

    private void gatherTileScales(DeviceBuffer send, DeviceBuffer dest, long perShard, int tiles, int ldShard,
            int rowsPerRank, int rows, int ldOut, MemorySegment stream, List<AutoCloseable> temporaries,
            List<Runnable> afterGroup) {
        DeviceBuffer stack = cuda.allocator.allocate(4 * perShard * ranks);
        temporaries.add(stack);
        nccl.allGather(send.pointer(), stack.pointer(), perShard, Nccl.FLOAT32, comm, stream);
        afterGroup.add(() -> {
            long total = (long) tiles * ldOut;
            try (Arena arena = Arena.ofConfined()) {
                cuda.driver.launch(cuda.module("gather.cu").function("gather_tile_scales"), "gather_tile_scales",
                        (int) Math.min(4096, (total + 255) / 256), 1, 1, 256, 1, 1, 0, stream,
                        cuda.module("gather.cu").args(arena, "gather_tile_scales", stack.pointer(), ranks, tiles, ldShard, rowsPerRank, rows,
                                dest.pointer(), ldOut));
            }
        });
    }
}
