package dev.float8j.runtime.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Float8Plan;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.dist.InProcessGroup;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.LinearFactory;
import dev.float8j.runtime.nn.Parameter;
import dev.float8j.runtime.nn.transformer.LlamaConfig;
import dev.float8j.runtime.nn.transformer.LlamaModel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Sharded data parallel on 1, 2 and 4 in-process ranks against {@link LlamaTrainer} on one rank, same global batch and
 * seed. The tiny model's rows do not split evenly over 4 ranks (vocabulary 13, kv width 8), so shards are padded.
 */
class ShardedLlamaTrainerTest {
    /** The model and batches of LlamaTrainerTest, which one rank must reproduce. */
    private static final LlamaConfig TINY = LlamaTrainerTest.TINY;
    private static final int BATCH = LlamaTrainerTest.BATCH;
    private static final int STEPS = 4;
    private Backend before;

    @BeforeEach
    void useReference() {
        before = Backends.current();
        Backends.use(new ReferenceBackend());
    }

    @AfterEach
    void restore() {
        Backends.use(before);
    }

    private static int[][] batch(int step) {
        return LlamaTrainerTest.batch(step);
    }

    private static LlamaTrainer.Settings settings() {
        // clipNorm 0.5 is below the first steps' gradient norms, so clipping through the all-reduced norm is exercised
        return new LlamaTrainer.Settings(new LearningRateSchedule(1e-2, 1e-3, 2, 40), 0.01, 0.5f,
                LlamaTrainer.OnNonFinite.FAIL);
    }

    private static LlamaModel model(LinearFactory linears, DType activations) {
        Init.seed(11);
        return new LlamaModel(TINY, activations, linears);
    }

    private static LlamaModel model(LinearFactory linears) {
        return model(linears, DType.F32);
    }

    private static float[] oneRank(LinearFactory linears) {
        return oneRank(linears, DType.F32);
    }

    private static float[] oneRank(LinearFactory linears, DType activations) {
        LlamaTrainer trainer = new LlamaTrainer(model(linears, activations), settings());
        float[] losses = new float[STEPS];
        for (int s = 0; s < STEPS; s++) {
            int[][] b = batch(s);
            losses[s] = trainer.step(b[0], b[1], BATCH, TINY.seq()).loss();
        }
        return losses;
    }

    /** Losses per rank (rows) and step (columns); models are built here, one thread, since Init's seed is global. */
    private static float[][] sharded(int ranks, LinearFactory linears) {
        return sharded(ranks, linears, DType.F32);
    }

    private static float[][] sharded(int ranks, LinearFactory linears, DType activations) {
        List<LlamaModel> models = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            models.add(model(linears, activations));
        }
        return InProcessGroup.run(ranks, c -> {
            ShardedLlamaTrainer trainer = new ShardedLlamaTrainer(c, models.get(c.rank()), settings());
            float[] losses = new float[STEPS];
            for (int s = 0; s < STEPS; s++) {
                int[][] b = batch(s);
                losses[s] = trainer.step(b[0], b[1], BATCH, TINY.seq()).loss();
            }
            return losses;
        }).toArray(new float[0][]);
    }

    /** Losses per rank and step, bytes rank 0 handed to the weight gathers per step, and all bytes sent in the run. */
    private record Run(float[][] losses, long weightGatherBytes, long bytesSent) {
    }

    private static Run sharded(int ranks, LinearFactory linears, ShardedLlamaTrainer.WeightGather gather) {
        List<LlamaModel> models = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            models.add(model(linears));
        }
        long[] weightBytes = new long[1];
        InProcessGroup.Traffic<float[]> traffic = InProcessGroup.runCounting(ranks, c -> {
            ShardedLlamaTrainer trainer = new ShardedLlamaTrainer(c, models.get(c.rank()), settings(), gather);
            float[] losses = new float[STEPS];
            for (int s = 0; s < STEPS; s++) {
                int[][] b = batch(s);
                losses[s] = trainer.step(b[0], b[1], BATCH, TINY.seq()).loss();
            }
            if (c.rank() == 0) {
                weightBytes[0] = trainer.weightGatherBytesPerStep();
            }
            return losses;
        });
        return new Run(traffic.results().toArray(new float[0][]), weightBytes[0], traffic.bytesSent());
    }

    @Test
    void fp8WeightGatherMatchesOneRankAndTheHighPrecisionGatherForEveryRecipe() {
        for (Float8Plan plan : new Float8Plan[] {Float8Plan.tensorwise(), Float8Plan.rowwise(), Float8Plan.blockwise(),
                Float8Plan.mx()}) {
            float[] expected = oneRank(fp8(plan));
            for (int ranks : new int[] {2, 4}) {
                String what = plan + " on " + ranks + " ranks";
                Run fp8 = sharded(ranks, fp8(plan), ShardedLlamaTrainer.WeightGather.FP8);
                Run f32 = sharded(ranks, fp8(plan), ShardedLlamaTrainer.WeightGather.HIGH_PRECISION);
                assertSameLosses(expected, fp8.losses(), FP8_TOLERANCE, what + ", FP8 gather");
                if (plan.equals(Float8Plan.blockwise())) {
                    // whole 128-row blocks per shard: another sharding, so the norm's sum runs in another order
                    assertSameLosses(f32.losses()[0], fp8.losses(), 1e-5, what + ", FP8 against F32 gather");
                } else {
                    // same shards, and the FP8 gather is bit for bit the layer's own quantization
                    assertArrayEquals(f32.losses()[0], fp8.losses()[0], what + ": FP8 and F32 gathers, bit for bit");
                    // the runs differ in the weight gathers only, and the counters account for every byte of them
                    assertEquals(f32.bytesSent() - fp8.bytesSent(),
                            (long) ranks * STEPS * (f32.weightGatherBytes() - fp8.weightGatherBytes()), what);
                }
                System.out.printf("weight gather bytes per rank per step, %s: F32 %d, FP8 %d (%.3f)%n", what,
                        f32.weightGatherBytes(), fp8.weightGatherBytes(),
                        fp8.weightGatherBytes() / (double) f32.weightGatherBytes());
            }
        }
    }

    private static LinearFactory fp8(Float8Plan plan) {
        return (name, in, out) -> new Float8Linear(in, out, plan);
    }

    private static void assertSameLosses(float[] expected, float[][] perRank, double relativeTolerance, String what) {
        for (float[] rank : perRank) {
            assertArrayEquals(perRank[0], rank, what + ": every rank reports the same loss");
        }
        for (int s = 0; s < STEPS; s++) {
            assertEquals(expected[s], perRank[0][s], relativeTolerance * expected[s],
                    what + ", step " + s + ": " + Arrays.toString(expected) + " vs " + Arrays.toString(perRank[0]));
        }
    }

    /**
     * The update is queued before the host reads the all-reduced loss and norm, guarded by them where it runs: a NaN
     * in one rank's shard makes every rank's loss NaN, and every rank's step is skipped with its shards, their
     * moments and the optimizer's step count as the last good step left them.
     */
    @Test
    void aSkippedStepLeavesShardsMomentsAndStepCountOnEveryRank() {
        LlamaTrainer.Settings skipping = new LlamaTrainer.Settings(new LearningRateSchedule(1e-2, 1e-3, 2, 40), 0.01,
                0.5f, LlamaTrainer.OnNonFinite.SKIP_STEP);
        List<LlamaModel> models = List.of(model(LinearFactory.highPrecision()), model(LinearFactory.highPrecision()));
        InProcessGroup.run(2, c -> {
            ShardedLlamaTrainer trainer = new ShardedLlamaTrainer(c, models.get(c.rank()), skipping);
            int[][] b = batch(0);
            trainer.step(b[0], b[1], BATCH, TINY.seq());
            List<Parameter> shards = trainer.optimizer().parameters();
            if (c.rank() == 0) {
                // token 0's embedding, which every batch's inputs use
                assertEquals("embed_weight", shards.get(0).name());
                shards.get(0).value().data()[0] = Float.NaN;
                shards.get(0).markChanged();
            }
            // copies taken before the step under test, not values it computes
            List<float[]> values = shards.stream().map(p -> p.value().toFloatArray().clone()).toList();
            List<float[]> moments = trainer.optimizer().state().values().stream().map(float[]::clone).toList();

            assertTrue(trainer.step(b[0], b[1], BATCH, TINY.seq()).skipped(), "rank " + c.rank());
            assertEquals(1, trainer.optimizer().steps(), "rank " + c.rank());
            for (int i = 0; i < shards.size(); i++) {
                assertArrayEquals(values.get(i), shards.get(i).value().toFloatArray(), shards.get(i).name());
            }
            List<float[]> after = List.copyOf(trainer.optimizer().state().values());
            for (int i = 0; i < moments.size(); i++) {
                assertArrayEquals(moments.get(i), after.get(i), "moment " + i + " on rank " + c.rank());
            }
            return null;
        });
    }

    @Test
    void oneRankIsLlamaTrainerBitForBit() {
        float[] expected = oneRank(LinearFactory.highPrecision());
        assertArrayEquals(expected, sharded(1, LinearFactory.highPrecision())[0]);
        assertTrue(expected[STEPS - 1] < expected[0], "the run learns: " + Arrays.toString(expected));
    }

    @Test
    void twoAndFourRanksMatchOneRankInHighPrecision() {
        float[] expected = oneRank(LinearFactory.highPrecision());
        // only the order of float32 sums differs (split over ranks, mean over ranks): a few ulps per step
        assertSameLosses(expected, sharded(2, LinearFactory.highPrecision()), 1e-5, "2 ranks");
        assertSameLosses(expected, sharded(4, LinearFactory.highPrecision()), 1e-5, "4 ranks");
    }

    /*
     * FP8: beyond the order of sums, scales whose blocks span the batch see only this rank's tokens: tensorwise x and
     * dY everywhere, and the token axis of grad_weight's operands in rowwise. Their codes differ by a rounding step
     * here and there, as in any data-parallel FP8 run. Measured on this model (1 rank against 2 and 4): tensorwise
     * within 3e-3 relative at every step, rowwise within 2.2e-3; the loss falls by 30% over the 4 steps, and FP8
     * itself moves it by up to 4e-3 from high precision. Rowwise's first forward, on identical weights, has only
     * token-local scales, so it matches to the reduction order.
     */
    private static final double FP8_TOLERANCE = 5e-3;

    @Test
    void twoAndFourRanksMatchOneRankWithTensorwiseFp8() {
        float[] expected = oneRank(fp8(Float8Plan.tensorwise()));
        assertSameLosses(expected, sharded(2, fp8(Float8Plan.tensorwise())), FP8_TOLERANCE, "tensorwise on 2 ranks");
        assertSameLosses(expected, sharded(4, fp8(Float8Plan.tensorwise())), FP8_TOLERANCE, "tensorwise on 4 ranks");
    }

    @Test
    void twoAndFourRanksMatchOneRankWithRowwiseFp8() {
        float[] expected = oneRank(fp8(Float8Plan.rowwise()));
        for (int ranks : new int[] {2, 4}) {
            float[][] losses = sharded(ranks, fp8(Float8Plan.rowwise()));
            assertEquals(expected[0], losses[0][0], 1e-6 * expected[0], "rowwise's first forward on " + ranks + " ranks");
            assertSameLosses(expected, losses, FP8_TOLERANCE, "rowwise on " + ranks + " ranks");
        }
    }

    /**
     * Blockwise (1x128 tiles for x and dY, 128x128 for W) and MX: the first forward has only token-local scales here
     * and matches to the reduction order. Measured: blockwise within 1.1e-3 afterwards; MX within 2e-7, since its
     * power-of-two scales rarely change when a block along the tokens is split between ranks.
     */
    @Test
    void twoAndFourRanksMatchOneRankWithBlockwiseAndMxFp8() {
        for (Float8Plan plan : new Float8Plan[] {Float8Plan.blockwise(), Float8Plan.mx()}) {
            float[] expected = oneRank(fp8(plan));
            for (int ranks : new int[] {2, 4}) {
                String what = plan.output().second().granularity() + " on " + ranks + " ranks";
                float[][] losses = sharded(ranks, fp8(plan));
                assertEquals(expected[0], losses[0][0], 1e-6 * expected[0], what + ", first forward");
                assertSameLosses(expected, losses, FP8_TOLERANCE, what);
            }
        }
    }

    /** BF16 activations (F32 parameters): measured within 1e-7 in high precision, 2e-3 with rowwise FP8. */
    @Test
    void bf16ActivationsMatchOneRankInHighPrecisionAndRowwiseFp8() {
        float[] expected = oneRank(LinearFactory.highPrecision(), DType.BF16);
        assertSameLosses(expected, sharded(2, LinearFactory.highPrecision(), DType.BF16), 1e-5, "BF16 on 2 ranks");
        assertSameLosses(expected, sharded(4, LinearFactory.highPrecision(), DType.BF16), 1e-5, "BF16 on 4 ranks");
        float[] rowwise = oneRank(fp8(Float8Plan.rowwise()), DType.BF16);
        assertSameLosses(rowwise, sharded(2, fp8(Float8Plan.rowwise()), DType.BF16), FP8_TOLERANCE, "BF16 rowwise, 2 ranks");
        assertSameLosses(rowwise, sharded(4, fp8(Float8Plan.rowwise()), DType.BF16), FP8_TOLERANCE, "BF16 rowwise, 4 ranks");
    }

    /** Two ranks train 3 steps and save; fresh trainers (other initial weights) resume and continue bit for bit. */
    @Test
    void aShardedCheckpointResumesBitForBitOnTheSameRanks(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        LinearFactory rowwise = fp8(Float8Plan.rowwise());
        List<LlamaModel> first = List.of(model(rowwise), model(rowwise));
        List<float[]> straight = InProcessGroup.run(2, c -> {
            ShardedLlamaTrainer t = new ShardedLlamaTrainer(c, first.get(c.rank()), settings());
            for (int s = 0; s < 3; s++) {
                int[][] b = batch(s);
                t.step(b[0], b[1], BATCH, TINY.seq());
            }
            save(t, dir);
            return continueTraining(t);
        });
        Init.seed(99);
        List<LlamaModel> fresh = List.of(new LlamaModel(TINY, DType.F32, rowwise), new LlamaModel(TINY, DType.F32, rowwise));
        List<float[]> resumed = InProcessGroup.run(2, c -> {
            ShardedLlamaTrainer t = new ShardedLlamaTrainer(c, fresh.get(c.rank()), settings());
            try {
                assertEquals(3, t.resume(dir).step());
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return continueTraining(t);
        });
        assertArrayEquals(straight.get(0), resumed.get(0));
        assertArrayEquals(straight.get(1), resumed.get(1));

        List<LlamaModel> four = List.of(model(rowwise), model(rowwise), model(rowwise), model(rowwise));
        CheckpointException e = org.junit.jupiter.api.Assertions.assertThrows(CheckpointException.class,
                () -> InProcessGroup.run(4, c -> {
                    try {
                        return new ShardedLlamaTrainer(c, four.get(c.rank()), settings()).resume(dir);
                    } catch (java.io.IOException io) {
                        throw new java.io.UncheckedIOException(io);
                    }
                }));
        assertTrue(e.getMessage().contains("rank-0-of-2.ckpt, rank-1-of-2.ckpt"), e.getMessage());
    }

    private static void save(ShardedLlamaTrainer t, java.nio.file.Path dir) {
        try {
            t.save(dir, java.util.Map.of("run", "tiny"));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static float[] continueTraining(ShardedLlamaTrainer t) {
        float[] losses = new float[2];
        for (int s = 3; s < 5; s++) {
            int[][] b = batch(s);
            losses[s - 3] = t.step(b[0], b[1], BATCH, TINY.seq()).loss();
        }
        return losses;
    }

    @Test
    void eachRankHoldsAShardOfEveryParameterAndItsMoments() {
        List<LlamaModel> models = List.of(model(LinearFactory.highPrecision()), model(LinearFactory.highPrecision()),
                model(LinearFactory.highPrecision()), model(LinearFactory.highPrecision()));
        List<long[]> sizes = InProcessGroup.run(4, c -> {
            ShardedLlamaTrainer t = new ShardedLlamaTrainer(c, models.get(c.rank()), settings());
            long shard = 0;
            for (Parameter p : t.localShards()) {
                shard += p.value().size();
            }
            long moments = 0;
            for (float[] m : t.optimizer().state().values()) {
                moments += m.length;
            }
            return new long[] {shard, moments};
        });
        long full = 0;
        for (Parameter p : models.get(0).parameters()) {
            full += p.value().size();
        }
        for (long[] s : sizes) {
            // a quarter of the parameters, padded up to whole rows per rank; two moments per shard element
            assertTrue(s[0] >= full / 4 && s[0] < full / 4 + full / 10, s[0] + " of " + full);
            assertEquals(2 * s[0], s[1]);
        }
    }
}
