package dev.float8j.runtime.dist;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;

/**
 * How the rows (dim 0) of a [rows, cols] tensor are split over ranks: each rank owns {@link #rowsPerRank()} rows,
 * a multiple of an alignment (128 for blockwise weights, so no scale block straddles two ranks), except at the end,
 * where the last ranks own fewer real rows, or none. Collectives move equal shards, so a rank's shard is always
 * rowsPerRank rows, padded with zero rows past its real ones.
 */
public record ShardLayout(int rows, int cols, int ranks, int rowsPerRank) {

    public ShardLayout {
        if (rows <= 0 || cols <= 0 || ranks <= 0 || rowsPerRank <= 0 || (long) rowsPerRank * ranks < rows) {
            throw new IllegalArgumentException("a layout needs positive sizes and " + ranks + " shards of "
                    + rowsPerRank + " rows covering " + rows + " rows");
        }
    }

    /** The fewest rows per rank, a multiple of alignRows, that cover rows. */
    public static ShardLayout of(int rows, int cols, int ranks, int alignRows) {
        if (ranks <= 0 || alignRows <= 0) {
            throw new IllegalArgumentException("need ranks > 0 and alignRows > 0, got " + ranks + " and " + alignRows);
        }
        int perRank = (rows + ranks - 1) / ranks;
        perRank = (perRank + alignRows - 1) / alignRows * alignRows;
        return new ShardLayout(rows, cols, ranks, perRank);
    }

    /** The first row owned by rank (rows when it owns none). */
    public int firstRow(int rank) {
        return (int) Math.min(rows, (long) rank * rowsPerRank);
    }

    /** Real rows owned by rank: rowsPerRank, fewer at the end, or 0. */
    public int realRows(int rank) {
        return Math.min(rows, firstRow(rank) + rowsPerRank) - firstRow(rank);
    }

    /** Rows of the gathered, padded tensor: ranks · rowsPerRank. */
    public int paddedRows() {
        return ranks * rowsPerRank;
    }

    /** Rank's rows of a full host tensor viewed as [rows, cols], as an F32 [rowsPerRank, cols] copy padded with zeros. */
    public Tensor shardOf(Tensor full, int rank) {
        requireMatrix(full);
        float[] out = new float[rowsPerRank * cols];
        float[] all = full.toFloatArray();
        System.arraycopy(all, firstRow(rank) * cols, out, 0, realRows(rank) * cols);
        return Tensor.of(out, rowsPerRank, cols);
    }

    /**
     * Rank's rows of full, an F32 tensor where backend computes (host or device), viewed as [rows, cols]: a
     * [rowsPerRank, cols] copy there, padded with zeros.
     */
    public Tensor shardOf(Backend backend, Tensor full, int rank) {
        requireMatrix(full);
        Tensor out = backend.zeros(rowsPerRank, cols);
        backend.copyElements(full, firstRow(rank) * cols, out, 0, realRows(rank) * cols);
        return out;
    }

    /** The real rows of a gathered F32 [paddedRows, cols] tensor written into into, both where backend computes. */
    public void unpadInto(Backend backend, Tensor gathered, Tensor into) {
        requireMatrix(into);
        if (gathered.rows() != paddedRows() || gathered.cols() != cols) {
            throw new IllegalArgumentException("expected a gathered [" + paddedRows() + ", " + cols + "] tensor, got "
                    + gathered);
        }
        backend.copyElements(gathered, 0, into, 0, rows * cols);
    }

    /**
     * full as F32 [paddedRows, cols] where backend computes: full itself, reshaped, when the layout has no padding
     * rows (so a collective reads it without a copy: keep it unchanged until the collective is awaited), else a copy
     * of its rows followed by zero rows.
     */
    public Tensor padded(Backend backend, Tensor full) {
        requireMatrix(full);
        if (paddedRows() == rows) {
            return full.rows() == rows && full.cols() == cols ? full : full.reshape(rows, cols);
        }
        Tensor out = backend.zeros(paddedRows(), cols);
        backend.copyElements(full, 0, out, 0, rows * cols);
        return out;
    }

    private void requireMatrix(Tensor t) {
        if (t.size() != rows * cols) {
            throw new IllegalArgumentException(t + " is not a " + rows + "x" + cols + " tensor of this layout");
        }
    }
}
