package dev.float8j.runtime.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import org.junit.jupiter.api.Test;

/** The copies between a tensor and its shards through a backend (the host forms here; the device ones on the GPU). */
class ShardLayoutTest {
    private static final Backend HOST = new ReferenceBackend();
    /** 5 rows of 3: row r holds 10r, 10r + 1, 10r + 2. */
    private static final float[] FIVE_ROWS = {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42};

    @Test
    void shardsAreTheirRowsPaddedWithZeroRows() {
        ShardLayout layout = ShardLayout.of(5, 3, 2, 1); // 3 rows per rank: rank 1 owns rows 3 and 4, then a zero row
        Tensor full = Tensor.of(FIVE_ROWS.clone(), 5, 3);
        assertArrayEquals(new float[] {0, 1, 2, 10, 11, 12, 20, 21, 22}, HOST.toHost(layout.shardOf(HOST, full, 0)).data());
        assertArrayEquals(new float[] {30, 31, 32, 40, 41, 42, 0, 0, 0}, HOST.toHost(layout.shardOf(HOST, full, 1)).data());
        assertArrayEquals(FIVE_ROWS, full.data(), "the full tensor is left as it was");
    }

    @Test
    void paddedAddsZeroRowsAndUnpadKeepsTheRealOnes() {
        ShardLayout layout = ShardLayout.of(5, 3, 2, 1);
        Tensor padded = layout.padded(HOST, Tensor.of(FIVE_ROWS.clone(), 5, 3));
        float[] expected = java.util.Arrays.copyOf(FIVE_ROWS, 18);
        assertArrayEquals(expected, padded.data());
        Tensor into = Tensor.zeros(dev.float8j.runtime.DType.F32, 5, 3);
        layout.unpadInto(HOST, padded, into);
        assertArrayEquals(FIVE_ROWS, into.data());
    }

    @Test
    void aLayoutWithoutPaddingHandsOutTheTensorItself() {
        Tensor full = Tensor.of(FIVE_ROWS.clone(), 5, 3);
        assertSame(full, ShardLayout.of(5, 3, 1, 1).padded(HOST, full));
        // a norm gain [1, 4] flattened to [4, 1] for 2 ranks: a reshaped view of the same elements
        Tensor gain = Tensor.of(new float[] {1, 2, 3, 4}, 1, 4);
        Tensor flat = ShardLayout.of(4, 1, 2, 1).padded(HOST, gain);
        assertArrayEquals(new int[] {4, 1}, flat.shape());
        assertArrayEquals(gain.data(), flat.data());
    }

    @Test
    void copiesOutsideEitherTensorAreRefusedAndChangeNothing() {
        Tensor from = Tensor.of(new float[] {1, 2, 3, 4}, 2, 2);
        Tensor into = Tensor.of(new float[] {9, 9, 9}, 1, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HOST.copyElements(from, 1, into, 0, 4));
        assertTrue(e.getMessage().contains("4 elements"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> HOST.copyElements(from, 0, into, 1, 3));
        assertArrayEquals(new float[] {9, 9, 9}, into.data());
        HOST.copyElements(from, 1, into, 0, 3);
        assertArrayEquals(new float[] {2, 3, 4}, into.data());
    }
}
