package dev.float8j.runtime.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.cpu.CpuBackend;
import dev.float8j.runtime.quant.NonFiniteException;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class Fp8AllGatherTest {
    private static final Backend REFERENCE = new ReferenceBackend();

    /** Rows of very different magnitudes, so that per-row and per-block scales differ from the global one. */
    private static Tensor weight(int rows, int cols, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] v = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            float magnitude = (float) Math.pow(2, random.nextInt(-8, 9));
            for (int c = 0; c < cols; c++) {
                v[r * cols + c] = (float) (random.nextGaussian() * magnitude);
            }
        }
        return Tensor.of(v, rows, cols);
    }

    private static void assertGatherEqualsFullQuantization(QuantSpec spec, int rows, int cols) {
        Tensor full = weight(rows, cols, rows * 31L + cols);
        Float8Tensor expected = REFERENCE.quantize(full, spec);
        for (int ranks = 1; ranks <= 4; ranks++) {
            ShardLayout layout = ShardLayout.of(rows, cols, ranks, Fp8AllGather.rowAlignment(spec));
            for (Backend backend : new Backend[] {REFERENCE, new CpuBackend(1)}) {
                List<Float8Tensor> gathered = InProcessGroup.run(ranks, c -> Fp8AllGather.gather(c, backend,
                        layout.shardOf(full, c.rank()), spec, layout));
                for (int r = 0; r < ranks; r++) {
                    Float8Tensor q = gathered.get(r);
                    String what = spec + " " + rows + "x" + cols + " on " + ranks + " ranks (" + backend.name()
                            + "), rank " + r;
                    assertArrayEquals(new int[] {rows, cols}, q.shape(), what);
                    assertEquals(spec, q.spec(), what);
                    assertArrayEquals(expected.codes(), q.codes(), what + ": codes");
                    assertArrayEquals(bits(expected.scales()), bits(q.scales()), what + ": scales");
                }
            }
        }
    }

    private static int[] bits(float[] scales) {
        int[] out = new int[scales.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = Float.floatToRawIntBits(scales[i]);
        }
        return out;
    }

    @Test
    void tensorwiseGathersTheFullWeightsQuantizationBitForBit() {
        for (Fp8Format format : Fp8Format.values()) {
            assertGatherEqualsFullQuantization(QuantSpec.of(format, ScalingGranularity.TENSORWISE, 1), 37, 24);
            assertGatherEqualsFullQuantization(new QuantSpec(format, ScalingGranularity.TENSORWISE, 1, true), 9, 16);
        }
    }

    @Test
    void rowwiseAlongKGathersBitForBit() {
        for (Fp8Format format : Fp8Format.values()) {
            assertGatherEqualsFullQuantization(QuantSpec.of(format, ScalingGranularity.ROWWISE, 1), 37, 24);
        }
    }

    @Test
    void mxAlongKGathersBitForBitWithPartialBlocksOfColumns() {
        for (Fp8Format format : Fp8Format.values()) {
            assertGatherEqualsFullQuantization(QuantSpec.of(format, ScalingGranularity.MX_1X32, 1), 23, 80);
        }
    }

    @Test
    void blockwiseGathersBitForBitWithShardsOfWhole128RowBlocks() {
        // 300 rows: 4 ranks own 128, 128, 44 and 0 real rows; the last block is partial in both dimensions
        for (Fp8Format format : Fp8Format.values()) {
            assertGatherEqualsFullQuantization(QuantSpec.of(format, ScalingGranularity.BLOCK_128X128, 1), 300, 136);
        }
    }

    @Test
    void blockwiseRefusesShardsThatSplitABlock() {
        QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.BLOCK_128X128, 1);
        ShardLayout unaligned = ShardLayout.of(300, 8, 4, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> InProcessGroup.run(4,
                c -> Fp8AllGather.gather(c, REFERENCE, unaligned.shardOf(weight(300, 8, 1), c.rank()), spec, unaligned)));
        assertTrue(e.getMessage().contains("whole blocks of 128 rows"), e.getMessage());
    }

    @Test
    void rowwiseAlongDim0IsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Fp8AllGather.rowAlignment(QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 0)));
        assertTrue(e.getMessage().contains("high precision"), e.getMessage());
    }

    @Test
    void aNonFiniteElementOnOneRankFailsEveryRankTensorwise() {
        QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1);
        Tensor full = weight(8, 4, 3);
        full.set(5, 2, Float.NaN);
        ShardLayout layout = ShardLayout.of(8, 4, 2, 1);
        List<String> outcomes = InProcessGroup.run(2, c -> {
            try {
                Fp8AllGather.gather(c, REFERENCE, layout.shardOf(full, c.rank()), spec, layout);
                return "gathered";
            } catch (NonFiniteException e) {
                return e.getMessage();
            }
        });
        assertTrue(outcomes.get(0).contains("another rank"), outcomes.get(0));
        assertTrue(outcomes.get(1).contains("[5, 2]") || outcomes.get(1).contains("5"), outcomes.get(1));
    }

    @Test
    void bytesPerRankIsWhatTheCommunicatorMoves() {
        for (ScalingGranularity g : new ScalingGranularity[] {ScalingGranularity.TENSORWISE, ScalingGranularity.ROWWISE,
                ScalingGranularity.MX_1X32, ScalingGranularity.BLOCK_128X128}) {
            QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, g, 1);
            ShardLayout layout = ShardLayout.of(260, 96, 3, Fp8AllGather.rowAlignment(spec));
            Tensor full = weight(260, 96, 5);
            long moved = InProcessGroup.runCounting(3, c -> Fp8AllGather.gather(c, REFERENCE,
                    layout.shardOf(full, c.rank()), spec, layout)).bytesSent();
            assertEquals(3 * Fp8AllGather.bytesPerRank(layout, spec), moved, g.toString());
        }
    }
}
