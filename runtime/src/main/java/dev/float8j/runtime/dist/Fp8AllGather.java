package dev.float8j.runtime.dist;

import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.quant.NonFiniteException;
import dev.float8j.runtime.quant.Scales;
import java.util.Arrays;

/**
 * The all-gather of a weight [N, K] sharded along dim 0, in FP8: each rank quantizes its shard and the collective
 * moves codes and scales, so the gathered tensor is, bit for bit, the quantization of the full weight on one rank.
 *
 * <ul>
 *   <li>Tensorwise: one scale for the whole weight, so the ranks first all-reduce the maximum of their shards'
 *       amax (4 bytes) and each casts its shard with the global scale.</li>
 *   <li>Rowwise along K (axis 1), MX 1x32 along K, 1x128 tiles along K: every scale block lies in one row, so each
 *       rank quantizes its shard alone, no communication before the cast.</li>
 *   <li>Blockwise 128x128, and blocks along dim 0 in general (MX or 1x128 along axis 0): a shard must be whole
 *       blocks of rows ({@link #rowAlignment}), else a block would straddle two ranks.</li>
 *   <li>Rowwise along axis 0 (one scale per column over every row) cannot be gathered this way: refused.</li>
 * </ul>
 *
 * Shards are padded with zero rows (see {@link ShardLayout}); zero rows change no amax, and their codes and
 * scales are cut off after the gather.
 */
public final class Fp8AllGather {
    private Fp8AllGather() {
    }

    /**
     * Rows a shard must be a multiple of for spec: the extent of its scale blocks along dim 0 (1 for tensorwise).
     *
     * @throws IllegalArgumentException for a spec whose one scale spans every row but not the whole tensor
     */
    public static int rowAlignment(QuantSpec spec) {
        ScalingGranularity g = spec.granularity();
        if (g == ScalingGranularity.TENSORWISE) {
            return 1;
        }
        int extent = spec.axis() == 0 ? g.extentAlongAxis() : g.extentAcrossAxis();
        if (extent == 0) {
            throw new IllegalArgumentException(g + " along axis 0 has one scale per column across every row, which no"
                    + " dim-0 shard owns: gather the weight in high precision, or quantize it along axis 1");
        }
        return extent;
    }

    /**
     * The full weight [layout.rows, layout.cols] quantized as spec says, from this rank's shard.
     *
     * @param shard this rank's rows, [layout.rowsPerRank, layout.cols] (host, or device for NcclCommunicator), zero past its real rows
     * @throws IllegalArgumentException if the layout splits a scale block between ranks, or shapes disagree
     * @throws NonFiniteException on every rank if any rank's shard holds NaN or Inf (tensorwise: seen through the
     *     all-reduced amax)
     */
    public static Float8Tensor gather(Communicator comm, Backend backend, Tensor shard, QuantSpec spec,
            ShardLayout layout) {
        return comm.allGather(quantizeShard(comm, backend, shard, spec, layout), layout.rows());
    }

    /**
     * This rank's shard quantized as its rows of the full weight are (tensorwise: with the all-reduced amax), ready
     * for {@link Communicator#allGather(Float8Tensor, int)} of layout.rows rows, or its async form.
     *
     * @throws IllegalArgumentException if the layout splits a scale block between ranks, or shapes disagree
     * @throws NonFiniteException as {@link #gather} does
     */
    public static Float8Tensor quantizeShard(Communicator comm, Backend backend, Tensor shard, QuantSpec spec,
            ShardLayout layout) {
        int align = rowAlignment(spec);
        if (layout.rowsPerRank() % align != 0) {
            throw new IllegalArgumentException(spec.granularity() + " along axis " + spec.axis() + " needs shards of whole"
                    + " blocks of " + align + " rows; this layout gives each rank " + layout.rowsPerRank() + " of "
                    + layout.rows() + " rows (make it with ShardLayout.of(rows, cols, ranks, " + align + "))");
        }
        if (layout.ranks() != comm.size() || shard.rows() != layout.rowsPerRank() || shard.cols() != layout.cols()) {
            throw new IllegalArgumentException("shard " + shard + " does not fit " + layout + " on a group of "
                    + comm.size());
        }
        if (spec.granularity() != ScalingGranularity.TENSORWISE) {
            return backend.quantize(shard, spec);
        }
        return shard.isOnDevice() ? comm.quantizeWithGroupAmax(shard, spec)
                : quantizeWithGlobalAmax(comm, shard, spec, layout);
    }

    /** The shard cast with the scale of the all-reduced amax: the same codes the full weight's quantization has. */
    private static Float8Tensor quantizeWithGlobalAmax(Communicator comm, Tensor shard, QuantSpec spec,
            ShardLayout layout) {
        float amax = 0f;
        for (int i = 0; i < shard.size(); i++) {
            amax = Math.max(amax, Math.abs(shard.getFlat(i))); // NaN propagates through max, so every rank sees it
        }
        float global = comm.allReduce(Tensor.of(new float[] {amax}, 1, 1), ReduceOp.MAX).getFlat(0);
        if (!Float.isFinite(global)) {
            for (int i = 0; i < shard.size(); i++) {
                float v = shard.getFlat(i);
                if (!Float.isFinite(v)) {
                    throw new NonFiniteException("rank " + comm.rank() + "'s shard of a weight " + layout.rows() + "x"
                            + layout.cols(), layout.firstRow(comm.rank()) + i / layout.cols(), i % layout.cols(), v);
                }
            }
            throw new NonFiniteException("another rank's shard of a weight " + layout.rows() + "x" + layout.cols()
                    + " holds NaN or Inf (its rank names the element)");
        }
        float scale = Scales.scale(global, spec.format(), spec.powerOfTwoScales());
        byte[] codes = new byte[shard.size()];
        for (int i = 0; i < codes.length; i++) {
            codes[i] = spec.format().encodeSaturating(shard.getFlat(i) * scale);
        }
        return new Float8Tensor(codes, new float[] {scale}, spec, shard.dtype(), shard.shape());
    }

    /** The first rows rows of a gathered host tensor (padding rows cut off), codes and scale grid alike. */
    static Float8Tensor firstRows(Float8Tensor gathered, int rows) {
        if (gathered.rows() == rows) {
            return gathered;
        }
        if (rows <= 0 || rows > gathered.rows()) {
            throw new IllegalArgumentException("cannot keep " + rows + " rows of " + gathered);
        }
        int scaleRows = (rows + gathered.blockRows() - 1) / gathered.blockRows();
        if (gathered.granularity() == ScalingGranularity.TENSORWISE) {
            scaleRows = 1;
        }
        return new Float8Tensor(Arrays.copyOf(gathered.codes(), rows * gathered.cols()),
                Arrays.copyOf(gathered.scalesForBackend(), scaleRows * gathered.scaleCols()), gathered.spec(),
                gathered.originalDType(), rows, gathered.cols());
    }

    /**
     * Bytes one rank hands to the all-gather of a weight of this layout in spec: its shard's codes and scales (plus 4
     * for the amax all-reduce of tensorwise). The gathered tensor every rank receives is ranks times the shard.
     */
    public static long bytesPerRank(ShardLayout layout, QuantSpec spec) {
        long rows = layout.rowsPerRank();
        long cols = layout.cols();
        long blockRows = spec.blockRows(layout.rowsPerRank());
        long blockCols = spec.blockCols(layout.cols());
        long scales = ((rows + blockRows - 1) / blockRows) * ((cols + blockCols - 1) / blockCols);
        long amax = spec.granularity() == ScalingGranularity.TENSORWISE ? 4 : 0;
        return rows * cols + 4 * scales + amax;
    }
}
