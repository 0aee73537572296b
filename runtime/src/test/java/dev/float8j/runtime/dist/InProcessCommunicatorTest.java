package dev.float8j.runtime.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;

class InProcessCommunicatorTest {

    /** Rank r's tensor [2, 3]: element i is 10·r + i. */
    private static Tensor of(int rank) {
        float[] v = new float[6];
        for (int i = 0; i < v.length; i++) {
            v[i] = 10 * rank + i;
        }
        return Tensor.of(v, 2, 3);
    }

    @Test
    void allGatherStacksShardsInRankOrder() {
        List<float[]> out = InProcessGroup.run(3, c -> c.allGather(of(c.rank())).data());
        float[] expected = new float[18];
        for (int r = 0; r < 3; r++) {
            for (int i = 0; i < 6; i++) {
                expected[r * 6 + i] = 10 * r + i;
            }
        }
        for (float[] o : out) {
            assertArrayEquals(expected, o);
        }
    }

    @Test
    void reduceScatterGivesEachRankItsBlockOfTheSumOrMean() {
        // 4 ranks, full [4, 3] each; rank r gets row r of the sum over ranks
        List<float[][]> out = InProcessGroup.run(4, c -> {
            float[] full = new float[12];
            for (int i = 0; i < 12; i++) {
                full[i] = c.rank() + 100 * i;
            }
            Tensor t = Tensor.of(full, 4, 3);
            return new float[][] {c.reduceScatter(t, ReduceOp.SUM).data(), c.reduceScatter(t, ReduceOp.MEAN).data()};
        });
        for (int r = 0; r < 4; r++) {
            for (int j = 0; j < 3; j++) {
                int i = r * 3 + j;
                float sum = (0 + 1 + 2 + 3) + 4 * 100f * i;
                assertEquals(sum, out.get(r)[0][j], "sum, rank " + r);
                assertEquals(sum / 4, out.get(r)[1][j], "mean, rank " + r);
            }
        }
    }

    @Test
    void allReduceSumsInRankOrderAndTakesTheMaximum() {
        // in float, ((1e8 + 1) - 1e8) + 1 = 1 in rank order; the reverse order would give 0
        float[] values = {1e8f, 1f, -1e8f, 1f};
        List<float[]> out = InProcessGroup.run(4, c -> new float[] {
                c.allReduce(Tensor.of(new float[] {values[c.rank()]}, 1, 1), ReduceOp.SUM).getFlat(0),
                c.allReduce(Tensor.of(new float[] {values[c.rank()]}, 1, 1), ReduceOp.MAX).getFlat(0)});
        for (float[] o : out) {
            assertEquals(1f, o[0]);
            assertEquals(1e8f, o[1]);
        }
    }

    @Test
    void broadcastCopiesTheRootsTensorAndBarrierReturns() {
        List<float[]> out = InProcessGroup.run(3, c -> {
            c.barrier();
            return c.broadcast(of(c.rank()), 2).data();
        });
        for (float[] o : out) {
            assertArrayEquals(of(2).data(), o);
        }
    }

    @Test
    void ranksCallingDifferentCollectivesFailWithBothNamed() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> InProcessGroup.run(2, c -> c.rank() == 0
                ? c.allReduce(of(0), ReduceOp.SUM) : c.allGather(of(1))));
        assertTrue(e.getMessage().contains("allReduce") && e.getMessage().contains("allGather"), e.getMessage());
    }

    @Test
    void aFailingRankStopsTheOthersAndItsErrorIsReported() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> InProcessGroup.run(3, c -> {
            if (c.rank() == 1) {
                throw new IllegalArgumentException("rank 1 broke");
            }
            return c.allGather(of(c.rank()));
        }));
        assertEquals("rank 1 broke", e.getMessage());
    }

    @Test
    void trafficCountsEveryRanksOperand() {
        // 3 ranks all-gather 6 F32 each (24 bytes) and all-reduce 6 F32 each
        long bytes = InProcessGroup.runCounting(3, c -> {
            c.allGather(of(c.rank()));
            return c.allReduce(of(c.rank()), ReduceOp.SUM);
        }).bytesSent();
        assertEquals(3 * 24 + 3 * 24, bytes);
    }
}
