package dev.float8j.runtime.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Float8Plan;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.dist.AsyncCollectives;
import dev.float8j.runtime.dist.Communicator;
import dev.float8j.runtime.dist.InProcessGroup;
import dev.float8j.runtime.dist.Pending;
import dev.float8j.runtime.dist.ReduceOp;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.LinearFactory;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.Parameter;
import dev.float8j.runtime.nn.transformer.LlamaConfig;
import dev.float8j.runtime.nn.transformer.LlamaModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * ShardedLlamaTrainer with communication overlapped with compute, on ranks as threads each with a communication
 * thread ({@link AsyncCollectives}): the same bits as without overlap, and the collectives really are issued while
 * the modules around them compute.
 */
class ShardedOverlapTest {
    private static final LlamaConfig TINY = LlamaTrainerTest.TINY;
    private static final int BATCH = LlamaTrainerTest.BATCH;
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

    private static LlamaTrainer.Settings settings() {
        return new LlamaTrainer.Settings(new LearningRateSchedule(1e-2, 1e-3, 2, 40), 0.01, 0.5f,
                LlamaTrainer.OnNonFinite.FAIL);
    }

    /** Per rank: the losses of 3 steps followed by every value of its parameter shards after them. */
    private static List<float[]> run(int ranks, LinearFactory linears, ShardedLlamaTrainer.WeightGather gather,
            boolean overlap) {
        List<LlamaModel> models = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            Init.seed(11);
            models.add(new LlamaModel(TINY, dev.float8j.runtime.DType.F32, linears));
        }
        return InProcessGroup.run(ranks, c -> {
            try (AsyncCollectives async = new AsyncCollectives(c)) {
                Communicator comm = overlap ? async : c;
                ShardedLlamaTrainer trainer = new ShardedLlamaTrainer(comm, models.get(c.rank()), settings(), gather);
                trainer.setOverlap(overlap);
                List<Float> out = new ArrayList<>();
                for (int s = 0; s < 3; s++) {
                    int[][] b = LlamaTrainerTest.batch(s);
                    out.add(trainer.step(b[0], b[1], BATCH, TINY.seq()).loss());
                }
                for (Parameter p : trainer.localShards()) {
                    for (float v : p.value().data()) {
                        out.add(v);
                    }
                }
                float[] result = new float[out.size()];
                for (int i = 0; i < result.length; i++) {
                    result[i] = out.get(i);
                }
                return result;
            }
        });
    }

    @Test
    void overlapOnAndOffGiveTheSameLossesAndShardsBitForBit() {
        LinearFactory tensorwise = (name, in, out) -> new Float8Linear(in, out, Float8Plan.tensorwise());
        LinearFactory rowwise = (name, in, out) -> new Float8Linear(in, out, Float8Plan.rowwise());
        for (LinearFactory linears : new LinearFactory[] {LinearFactory.highPrecision(), tensorwise, rowwise}) {
            for (ShardedLlamaTrainer.WeightGather gather : ShardedLlamaTrainer.WeightGather.values()) {
                List<float[]> off = run(2, linears, gather, false);
                List<float[]> on = run(2, linears, gather, true);
                for (int r = 0; r < 2; r++) {
                    assertArrayEquals(off.get(r), on.get(r), gather + " rank " + r);
                }
            }
        }
    }

    /** What the trainer issued, with how much block 0's layers held saved for backward at that moment. */
    private record Issued(String what, long block0Saved) {
    }

    /** Hands every call to the wrapped communicator, recording each async one as it is issued. */
    private static final class Recording implements Communicator {
        private final Communicator inner;
        private final List<Issued> issued = new ArrayList<>();
        private final Map<Tensor, String> shardNames = new ConcurrentHashMap<>();
        private LlamaModel model;

        Recording(Communicator inner) {
            this.inner = inner;
        }

        private long block0Saved() {
            long saved = 0;
            for (Module m : model.modules()) {
                if (m instanceof Linear l && m.name().startsWith("blocks.0.")) {
                    saved += l.savedBytes();
                }
            }
            return saved;
        }

        @Override
        public Pending<Tensor> allGatherAsync(Tensor shard) {
            issued.add(new Issued("gather " + shardNames.getOrDefault(shard, "?"), block0Saved()));
            return inner.allGatherAsync(shard);
        }

        @Override
        public Pending<Float8Tensor> allGatherAsync(Float8Tensor shard, int rows) {
            issued.add(new Issued("gather fp8", block0Saved()));
            return inner.allGatherAsync(shard, rows);
        }

        @Override
        public Pending<Tensor> reduceScatterAsync(Tensor full, ReduceOp op) {
            issued.add(new Issued("reduce-scatter", block0Saved()));
            return inner.reduceScatterAsync(full, op);
        }

        @Override
        public int rank() {
            return inner.rank();
        }

        @Override
        public int size() {
            return inner.size();
        }

        @Override
        public Tensor allGather(Tensor shard) {
            return inner.allGather(shard);
        }

        @Override
        public Float8Tensor allGather(Float8Tensor shard) {
            return inner.allGather(shard);
        }

        @Override
        public Tensor reduceScatter(Tensor full, ReduceOp op) {
            return inner.reduceScatter(full, op);
        }

        @Override
        public Tensor allReduce(Tensor t, ReduceOp op) {
            return inner.allReduce(t, op);
        }

        @Override
        public Tensor broadcast(Tensor t, int root) {
            return inner.broadcast(t, root);
        }

        @Override
        public void barrier() {
            inner.barrier();
        }
    }

    /** Rank 0's record of one step, with overlap on or off. */
    private static List<Issued> recordOneStep(boolean overlap) {
        List<LlamaModel> models = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            Init.seed(11);
            models.add(new LlamaModel(TINY, dev.float8j.runtime.DType.F32, LinearFactory.highPrecision()));
        }
        return InProcessGroup.run(2, c -> {
            try (AsyncCollectives async = new AsyncCollectives(c)) {
                Recording recording = new Recording(async);
                recording.model = models.get(c.rank());
                ShardedLlamaTrainer trainer = new ShardedLlamaTrainer(recording, recording.model, settings());
                trainer.setOverlap(overlap);
                for (Parameter p : trainer.localShards()) {
                    recording.shardNames.put(p.value(), p.name());
                }
                int[][] b = LlamaTrainerTest.batch(0);
                trainer.step(b[0], b[1], BATCH, TINY.seq());
                return recording.issued;
            }
        }).get(0);
    }

    private static Issued first(List<Issued> issued, String prefix) {
        return issued.stream().filter(i -> i.what().startsWith(prefix)).findFirst().orElseThrow(
                () -> new AssertionError("nothing issued starting with " + prefix + ": " + issued));
    }

    @Test
    void theNextModulesGatherAndEachModulesReduceScatterAreIssuedWhileOthersCompute() {
        List<Issued> on = recordOneStep(true);
        // block 1's weights are requested before block 0 has computed (nothing saved yet), the head's after it
        assertEquals(0, first(on, "gather blocks_1_").block0Saved(), on.toString());
        assertTrue(first(on, "gather head_").block0Saved() > 0, on.toString());
        // the head's gradients start their reduce-scatter while block 0's backward has not run (its saves are held)
        assertTrue(first(on, "reduce-scatter").block0Saved() > 0, on.toString());

        // without overlap every gather comes before the forward, every reduce-scatter after the backward
        List<Issued> off = recordOneStep(false);
        assertEquals(0, first(off, "gather head_").block0Saved(), off.toString());
        assertEquals(0, first(off, "reduce-scatter").block0Saved(), off.toString());
    }
}
