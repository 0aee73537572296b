package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Float8Plan;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.dist.Pending;
import dev.float8j.runtime.dist.ReduceOp;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.LinearFactory;
import dev.float8j.runtime.nn.Parameter;
import dev.float8j.runtime.nn.transformer.LlamaConfig;
import dev.float8j.runtime.nn.transformer.LlamaModel;
import dev.float8j.runtime.train.LearningRateSchedule;
import dev.float8j.runtime.train.LlamaTrainer;
import dev.float8j.runtime.train.ShardedLlamaTrainer;
import dev.float8j.runtime.train.ShardedLlamaTrainer.WeightGather;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sharded training on the GPU through an NCCL communicator of one rank, against {@link LlamaTrainer} on the GPU, same
 * seed and batches: parameters, shards, gradients and AdamW's moments all on the device, collectives on NCCL's
 * communication stream (async, with overlap, and plain). Skipped without a GPU or NCCL.
 *
 * <p>Bit for bit: with one rank the shard of a parameter is all of it (no padding: this model's weights have 64 to
 * 512 rows), the gather and the reduce-scatter (ncclAvg over one rank) copy values exactly, and the sharded step then
 * runs the same kernels on the same shapes as LlamaTrainer: the same forward and fused loss, the gradient norm over
 * tensors of the same shapes, AdamW on the same shapes. The FP8 weight gather hands the layer the quantization of its
 * own weight (tensorwise: cast with the all-reduced amax, which over one rank is the weight's own), so it is bit for
 * bit too. The sequence of 32 keeps the attention backward deterministic (one key tile, see CudaLlamaTrainingTest).
 *
 * <p>Sizes: dim 256, 4 heads of 64, 2 kv heads, 2 layers, FFN 512, vocabulary 64, batch 2 x sequence 32, BF16
 * activations, 5 steps.
 */
class ShardedCudaTrainingTest {
    private static final LlamaConfig SMALL = LlamaConfig.of(256, 2, 4, 2, 512, 64, 32);
    private static final int BATCH = 2;
    private static final int STEPS = 5;

    private static int[][] batch(int step) {
        Random random = new Random(300 + step);
        int[] inputs = new int[BATCH * SMALL.seq()];
        int[] targets = new int[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            inputs[i] = random.nextInt(SMALL.vocabulary());
            targets[i] = (inputs[i] * 7 + 3) % SMALL.vocabulary();
        }
        return new int[][] {inputs, targets};
    }

    private static LinearFactory linears(Float8Plan plan) {
        return (name, in, out) -> plan == null || name.equals("head") ? new Linear(in, out) : new Float8Linear(in, out, plan);
    }

    private static LlamaTrainer.Settings settings() {
        return new LlamaTrainer.Settings(new LearningRateSchedule(3e-3, 3e-4, 2, 20), 0.01, 0.5f,
                LlamaTrainer.OnNonFinite.FAIL);
    }

    private static LlamaModel model(CudaBackend cuda, Float8Plan plan) {
        Init.seed(21);
        LlamaModel model = new LlamaModel(SMALL, DType.BF16, linears(plan));
        model.moveTo(cuda);
        return model;
    }

    private static <T> T on(Backend backend, Supplier<T> work) {
        Backend before = Backends.current();
        Backends.use(backend);
        try {
            return work.get();
        } finally {
            Backends.use(before);
        }
    }

    private static float[] unsharded(CudaBackend cuda, Float8Plan plan) {
        return on(cuda, () -> {
            LlamaTrainer trainer = new LlamaTrainer(model(cuda, plan), settings());
            float[] losses = new float[STEPS];
            for (int s = 0; s < STEPS; s++) {
                int[][] b = batch(s);
                losses[s] = trainer.step(b[0], b[1], BATCH, SMALL.seq()).loss();
            }
            return losses;
        });
    }

    private static float[] sharded(CudaBackend cuda, NcclCommunicator comm, Float8Plan plan, WeightGather gather,
            boolean overlap) {
        return on(cuda, () -> {
            LlamaModel model = model(cuda, plan);
            ShardedLlamaTrainer trainer = new ShardedLlamaTrainer(comm, model, settings(), gather);
            trainer.setOverlap(overlap);
            for (Parameter shard : trainer.localShards()) {
                assertTrue(shard.value().isOnDevice() && shard.grad().isOnDevice(), shard + " lives on the device");
            }
            float[] losses = new float[STEPS];
            for (int s = 0; s < STEPS; s++) {
                int[][] b = batch(s);
                losses[s] = trainer.step(b[0], b[1], BATCH, SMALL.seq()).loss();
            }
            return losses;
        });
    }

    private static byte[] ncclIdOrSkip() {
        TestGpu.require();
        try {
            return NcclCommunicator.newUniqueId();
        } catch (CudaUnavailableException e) {
            Assumptions.abort("skipped: no NCCL here: " + e.getMessage());
            return null;
        }
    }

    private static void assertShardedMatches(Float8Plan plan) {
        CudaBackend cuda = TestGpu.require();
        byte[] id = ncclIdOrSkip();
        float[] expected = unsharded(cuda, plan);
        for (float loss : expected) {
            assertTrue(Float.isFinite(loss), "the unsharded run's losses are finite: " + Arrays.toString(expected));
        }
        assertTrue(expected[STEPS - 1] != expected[0], "the unsharded run trains: " + Arrays.toString(expected));
        try (NcclCommunicator comm = NcclCommunicator.create(cuda, id, 0, 1)) {
            for (WeightGather gather : WeightGather.values()) {
                for (boolean overlap : new boolean[] {true, false}) {
                    float[] got = sharded(cuda, comm, plan, gather, overlap);
                    assertArrayEquals(expected, got, gather + ", overlap " + overlap + ": LlamaTrainer "
                            + Arrays.toString(expected) + ", sharded " + Arrays.toString(got));
                }
            }
        }
    }

    @Test
    void highPrecisionShardedOnOneGpuGivesLlamaTrainersLossesBitForBit() {
        assertShardedMatches(null);
    }

    @Test
    void tensorwiseShardedOnOneGpuGivesLlamaTrainersLossesBitForBit() {
        assertShardedMatches(Float8Plan.tensorwise());
    }

    @Test
    void rowwiseShardedOnOneGpuGivesLlamaTrainersLossesBitForBit() {
        assertShardedMatches(Float8Plan.rowwise());
    }

    /**
     * A sharded checkpoint of device shards (tensorwise, FP8 gather) saved after 3 steps resumes into a fresh trainer
     * whose model starts from other weights, and its next 2 losses equal the uninterrupted run's bit for bit.
     */
    @Test
    void aShardedCheckpointOfDeviceShardsResumesBitForBit(@TempDir Path dir) {
        CudaBackend cuda = TestGpu.require();
        byte[] id = ncclIdOrSkip();
        Float8Plan plan = Float8Plan.tensorwise();
        try (NcclCommunicator comm = NcclCommunicator.create(cuda, id, 0, 1)) {
            float[][] both = on(cuda, () -> {
                ShardedLlamaTrainer straight = new ShardedLlamaTrainer(comm, model(cuda, plan), settings(), WeightGather.FP8);
                float[] uninterrupted = new float[2];
                for (int s = 0; s < 5; s++) {
                    if (s == 3) {
                        try {
                            straight.save(dir, Map.of("run", "gpu"));
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                    }
                    int[][] b = batch(s);
                    float loss = straight.step(b[0], b[1], BATCH, SMALL.seq()).loss();
                    if (s >= 3) {
                        uninterrupted[s - 3] = loss;
                    }
                }
                Init.seed(99);
                LlamaModel other = new LlamaModel(SMALL, DType.BF16, linears(plan));
                other.moveTo(cuda);
                ShardedLlamaTrainer resumed = new ShardedLlamaTrainer(comm, other, settings(), WeightGather.FP8);
                try {
                    resumed.resume(dir);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
                float[] after = new float[2];
                for (int s = 3; s < 5; s++) {
                    int[][] b = batch(s);
                    after[s - 3] = resumed.step(b[0], b[1], BATCH, SMALL.seq()).loss();
                }
                return new float[][] {uninterrupted, after};
            });
            assertArrayEquals(both[0], both[1], "uninterrupted " + Arrays.toString(both[0]) + ", resumed "
                    + Arrays.toString(both[1]));
        }
    }

    /**
     * The row copies of sharding, made on the device (cuMemcpyDtoDAsync at element offsets), give the host's values:
     * a 300 x 136 weight over 3 ranks in 128-row shards (rank 2 owns 44 real rows, then zero rows).
     */
    @Test
    void shardCopiesOnTheDeviceGiveTheHostsValues() {
        CudaBackend cuda = TestGpu.require();
        Backend host = new dev.float8j.runtime.backend.ReferenceBackend();
        float[] values = new float[300 * 136];
        for (int i = 0; i < values.length; i++) {
            values[i] = i * 0.25f - 7f;
        }
        Tensor full = Tensor.of(values, 300, 136);
        Tensor onDevice = cuda.toDevice(full);
        dev.float8j.runtime.dist.ShardLayout layout = dev.float8j.runtime.dist.ShardLayout.of(300, 136, 3, 128);
        for (int rank = 0; rank < 3; rank++) {
            assertArrayEquals(layout.shardOf(host, full, rank).data(),
                    cuda.toHost(layout.shardOf(cuda, onDevice, rank)).data(), "rank " + rank + "'s shard");
        }
        Tensor padded = layout.padded(cuda, onDevice);
        assertArrayEquals(layout.padded(host, full).data(), cuda.toHost(padded).data(), "padded");
        Tensor back = cuda.zeros(300, 136);
        layout.unpadInto(cuda, padded, back);
        assertArrayEquals(values, cuda.toHost(back).data(), "unpadded");
    }

    /**
     * The async collectives order the two streams: a gather issued after a kernel that wrote its operand reads the
     * written values, and a kernel queued after await reads the gathered ones. 4M elements, so that a collective not
     * ordered after (or before) the kernels around it would read or be read mid-write. A handle not awaited before
     * close keeps its memory until close waits for it.
     */
    @Test
    void asyncCollectivesAreOrderedWithTheComputeStreamByEvents() {
        CudaBackend cuda = TestGpu.require();
        byte[] id = ncclIdOrSkip();
        int rows = 2048;
        int cols = 2048;
        float[] values = new float[rows * cols];
        for (int i = 0; i < values.length; i++) {
            values[i] = (i % 1001) - 500f;
        }
        try (NcclCommunicator comm = NcclCommunicator.create(cuda, id, 0, 1)) {
            Tensor x = cuda.zeros(rows, cols);
            cuda.accumulate(x, cuda.toDevice(Tensor.of(values, rows, cols))); // a kernel on the compute stream
            Pending<Tensor> gathered = comm.allGatherAsync(x);
            Pending<Tensor> reduced = comm.reduceScatterAsync(x, ReduceOp.MEAN);
            Tensor sum = cuda.zeros(rows, cols);
            cuda.accumulate(sum, reduced.await()); // awaited out of issue order
            cuda.accumulate(sum, gathered.await());
            float[] twice = cuda.toHost(sum).data();
            for (int i = 0; i < values.length; i++) {
                if (twice[i] != 2 * values[i]) {
                    throw new AssertionError("element " + i + ": " + twice[i] + ", expected " + 2 * values[i]);
                }
            }
            comm.allGatherAsync(x); // never awaited: close waits for it and releases its memory
        }
    }
}
