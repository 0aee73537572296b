package dev.float8j.runtime.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ForwardingBackend;
import dev.float8j.runtime.backend.MemoryScope;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.cpu.CpuBackend;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.LinearFactory;
import dev.float8j.runtime.nn.Parameter;
import dev.float8j.runtime.nn.transformer.LlamaConfig;
import dev.float8j.runtime.nn.transformer.LlamaModel;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LlamaTrainerTest {
    static final LlamaConfig TINY = LlamaConfig.of(16, 2, 4, 2, 32, 13, 8);
    static final int BATCH = 4;

    /** A batch of the periodic text 0, 1, ..., 12, 0, 1, ...: inputs and their next tokens, shifted per row. */
    static int[][] batch(int step) {
        int[] inputs = new int[BATCH * TINY.seq()];
        int[] targets = new int[inputs.length];
        for (int b = 0; b < BATCH; b++) {
            for (int s = 0; s < TINY.seq(); s++) {
                int position = step * 7 + b * 3 + s;
                inputs[b * TINY.seq() + s] = position % 13;
                targets[b * TINY.seq() + s] = (position + 1) % 13;
            }
        }
        return new int[][] {inputs, targets};
    }

    private static LlamaTrainer.Settings settings(LlamaTrainer.OnNonFinite onNonFinite) {
        return new LlamaTrainer.Settings(new LearningRateSchedule(1e-2, 1e-3, 2, 40), 0.01, 1f, onNonFinite);
    }

    private static float[] train(Backend backend, LinearFactory linears, int steps) {
        Backend before = Backends.current();
        Backends.use(backend);
        try {
            Init.seed(11);
            LlamaModel model = new LlamaModel(TINY, DType.F32, linears);
            LlamaTrainer trainer = new LlamaTrainer(model, settings(LlamaTrainer.OnNonFinite.FAIL));
            float[] losses = new float[steps];
            for (int s = 0; s < steps; s++) {
                int[][] b = batch(s);
                losses[s] = trainer.step(b[0], b[1], BATCH, TINY.seq()).loss();
            }
            return losses;
        } finally {
            Backends.use(before);
        }
    }

    /** The reference backend, recording the memory scopes opened on it and how deep they nest. */
    private static final class ScopeRecordingBackend extends ForwardingBackend {
        int opened;
        int open;

        ScopeRecordingBackend() {
            super(new ReferenceBackend());
        }

        @Override
        public MemoryScope openScope() {
            opened++;
            open++;
            return () -> open--;
        }
    }

    /**
     * A step's device memory goes back when the step ends (on the GPU the garbage collector was otherwise left to
     * find it, and a 4-layer Llama step filled an 80 GB device within a few steps): every step, failed ones too,
     * runs inside a scope of the current backend that is closed when the step returns or throws.
     */
    @Test
    void everyStepRunsInAMemoryScopeClosedWhenItEnds() {
        ScopeRecordingBackend backend = new ScopeRecordingBackend();
        Backend before = Backends.current();
        Backends.use(backend);
        try {
            Init.seed(11);
            LlamaModel model = new LlamaModel(TINY, DType.F32, LinearFactory.highPrecision());
            LlamaTrainer trainer = new LlamaTrainer(model, settings(LlamaTrainer.OnNonFinite.FAIL));
            for (int s = 0; s < 3; s++) {
                int[][] b = batch(s);
                int openedBefore = backend.opened;
                trainer.step(b[0], b[1], BATCH, TINY.seq());
                assertTrue(backend.opened > openedBefore, "step " + s + " opened a scope");
                assertEquals(0, backend.open, "step " + s + " closed its scopes");
            }
            model.parameters().get(0).value().data()[0] = Float.NaN;
            int[][] b = batch(3);
            assertThrows(NonFiniteTrainingException.class, () -> trainer.step(b[0], b[1], BATCH, TINY.seq()));
            assertEquals(0, backend.open, "a failed step closed its scopes");
        } finally {
            Backends.use(before);
        }
    }

    @Test
    void aFewStepsLearnThePeriodicText() {
        float[] losses = train(new ReferenceBackend(), LinearFactory.highPrecision(), 30);
        assertEquals(Math.log(13), losses[0], 1.0, "an untrained model is near uniform");
        assertTrue(losses[29] < 0.5 * losses[0], Arrays.toString(losses));
    }

    @Test
    void referenceAndCpuBackendsAgree() {
        float[] reference = train(new ReferenceBackend(), LinearFactory.highPrecision(), 6);
        float[] cpu = train(new CpuBackend(2), LinearFactory.highPrecision(), 6);
        // the CPU backend's ops compute in float32 where the reference's compute in double, and its gemms add in
        // another order: the losses start a float ulp or so apart (1e-7 relative) and drift as training
        // amplifies the difference; 1e-5 is far below what a wrong op or a lost gradient would change
        for (int s = 0; s < reference.length; s++) {
            assertEquals(reference[s], cpu[s], 1e-5 * reference[s], "step " + s);
        }
    }

    /**
     * The same with FP8 layers: the CPU backend reuses the arrays of released tensors at once (casts, gemm results,
     * activations), so a module that released a tensor still in use would corrupt the step there while the reference
     * backend, which only marks them, would not.
     */
    @Test
    void referenceAndCpuBackendsAgreeWithFp8Layers() {
        LinearFactory tensorwise = (name, in, out) -> name.equals("head") ? new Linear(in, out)
                : new dev.float8j.runtime.nn.Float8Linear(in, out, dev.float8j.plan.Float8Plan.tensorwise());
        float[] reference = train(new ReferenceBackend(), tensorwise, 6);
        float[] cpu = train(new CpuBackend(2), tensorwise, 6);
        for (int s = 0; s < reference.length; s++) {
            // measured 1e-7 apart, as in high precision: FP8 casts round the same on both backends
            assertEquals(reference[s], cpu[s], 1e-5 * reference[s], "step " + s);
        }
    }

    @Test
    void aResumedRunContinuesBitForBit(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path file = dir.resolve("llama.ckpt");
        float[] straight = new float[3];
        float[] resumed = new float[3];
        for (int run = 0; run < 2; run++) {
            Init.seed(15);
            LlamaModel model = new LlamaModel(TINY, DType.F32, LinearFactory.highPrecision());
            LlamaTrainer trainer = new LlamaTrainer(model, settings(LlamaTrainer.OnNonFinite.FAIL));
            if (run == 0) {
                for (int s = 0; s < 4; s++) {
                    int[][] b = batch(s);
                    trainer.step(b[0], b[1], BATCH, TINY.seq());
                }
                trainer.save(file, java.util.Map.of("run", "tiny"));
            } else {
                assertEquals(4, trainer.resume(file).step());
            }
            for (int s = 4; s < 7; s++) {
                int[][] b = batch(s);
                (run == 0 ? straight : resumed)[s - 4] = trainer.step(b[0], b[1], BATCH, TINY.seq()).loss();
            }
        }
        assertTrue(Arrays.equals(straight, resumed), Arrays.toString(straight) + " vs " + Arrays.toString(resumed));
    }

    @Test
    void aNonFiniteParameterFailsNamingTheStepAndTheParameter() {
        Init.seed(12);
        LlamaModel model = new LlamaModel(TINY, DType.F32, LinearFactory.highPrecision());
        LlamaTrainer trainer = new LlamaTrainer(model, settings(LlamaTrainer.OnNonFinite.FAIL));
        int[][] b = batch(0);
        trainer.step(b[0], b[1], BATCH, TINY.seq());
        model.namedParameters().get("blocks.1.mlp_norm.weight").value().data()[3] = Float.NaN;
        var e = assertThrows(NonFiniteTrainingException.class, () -> trainer.step(b[0], b[1], BATCH, TINY.seq()));
        assertEquals("step 1: the loss is NaN; parameter blocks.1.mlp_norm.weight holds NaN or Inf", e.getMessage());
    }

    @Test
    void anFp8LayerThatMeetsNaNFailsOrSkipsLeavingNothingSaved() {
        Init.seed(16);
        LlamaModel model = new LlamaModel(TINY, DType.F32, (name, in, out) -> name.equals("head") ? new Linear(in, out)
                : new dev.float8j.runtime.nn.Float8Linear(in, out, dev.float8j.plan.Float8Plan.tensorwise()));
        model.namedParameters().get("blocks.0.attn_norm.weight").value().data()[0] = Float.NaN;
        int[][] b = batch(0);
        LlamaTrainer failing = new LlamaTrainer(model, settings(LlamaTrainer.OnNonFinite.FAIL));
        var e = assertThrows(NonFiniteTrainingException.class, () -> failing.step(b[0], b[1], BATCH, TINY.seq()));
        assertTrue(e.getMessage().startsWith("step 0: an FP8 layer met NaN or Inf: cannot quantize"), e.getMessage());
        assertEquals(0, model.savedBytes());

        LlamaTrainer skipping = new LlamaTrainer(model, settings(LlamaTrainer.OnNonFinite.SKIP_STEP));
        assertTrue(skipping.step(b[0], b[1], BATCH, TINY.seq()).skipped());
        assertEquals(0, model.savedBytes(), "the aborted forward's saved inputs are dropped");
        assertEquals(0, skipping.optimizer().steps());
    }

    /** A linear layer whose output or weight gradient turns NaN on request, to inject a failure where it is wanted. */
    private static final class Poisoned extends Linear {
        boolean output;
        boolean gradient;

        Poisoned(int in, int out) {
            super(in, out);
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor y = super.forward(x);
            if (output) {
                y.data()[0] = Float.NaN;
            }
            return y;
        }

        @Override
        public Tensor backward(Tensor gradOutput) {
            Tensor dx = super.backward(gradOutput);
            if (gradient) {
                weight().grad().data()[0] = Float.POSITIVE_INFINITY;
            }
            return dx;
        }
    }

    @Test
    void aNonFiniteActivationNamesTheFirstModuleThatMadeIt() {
        Poisoned[] down = new Poisoned[1];
        Init.seed(13);
        LlamaModel model = new LlamaModel(TINY, DType.F32, (name, in, out) -> {
            Linear l = name.equals("blocks.1.mlp.down") ? (down[0] = new Poisoned(in, out)) : new Linear(in, out);
            return l;
        });
        LlamaTrainer trainer = new LlamaTrainer(model, settings(LlamaTrainer.OnNonFinite.FAIL));
        down[0].output = true;
        int[][] b = batch(0);
        var e = assertThrows(NonFiniteTrainingException.class, () -> trainer.step(b[0], b[1], BATCH, TINY.seq()));
        assertEquals("step 0: the loss is NaN; every parameter is finite; the first module whose output holds NaN or Inf"
                + " is blocks.1", e.getMessage());
        assertEquals(0, model.savedBytes(), "the diagnosis leaves no saved inputs behind");
    }

    /**
     * The update is queued before the host reads the loss and norm, guarded where it runs: a step that skips or fails
     * on an infinite gradient norm or a NaN loss leaves every weight, both moments of every weight and the
     * optimizer's step count as they were after the last good step, on the reference and the CPU backends.
     */
    @Test
    void aSkippedOrFailedStepLeavesWeightsMomentsAndStepCount() {
        for (Backend backend : new Backend[] {new ReferenceBackend(), new CpuBackend(2)}) {
            for (LlamaTrainer.OnNonFinite onNonFinite : LlamaTrainer.OnNonFinite.values()) {
                for (boolean nanLoss : new boolean[] {false, true}) {
                    String what = onNonFinite + (nanLoss ? " on a NaN loss" : " on an infinite gradient") + " on "
                            + backend.getClass().getSimpleName();
                    Backend before = Backends.current();
                    Backends.use(backend);
                    try {
                        assertStepLeavesTheState(onNonFinite, nanLoss, what);
                    } finally {
                        Backends.use(before);
                    }
                }
            }
        }
    }

    private static void assertStepLeavesTheState(LlamaTrainer.OnNonFinite onNonFinite, boolean nanLoss, String what) {
        Poisoned[] q = new Poisoned[1];
        Init.seed(15);
        LlamaModel model = new LlamaModel(TINY, DType.F32,
                (name, in, out) -> name.equals("blocks.0.attn.q") ? (q[0] = new Poisoned(in, out)) : new Linear(in, out));
        LlamaTrainer trainer = new LlamaTrainer(model, settings(onNonFinite));
        int[][] b = batch(0);
        trainer.step(b[0], b[1], BATCH, TINY.seq());
        // copies taken before the step under test, not values it computes
        Map<String, float[]> weights = new LinkedHashMap<>();
        model.namedParameters().forEach((name, p) -> weights.put(name, p.value().toFloatArray().clone()));
        Map<String, float[]> moments = new LinkedHashMap<>();
        trainer.optimizer().state().forEach((name, m) -> moments.put(name, m.clone()));

        q[0].output = nanLoss;
        q[0].gradient = !nanLoss;
        if (onNonFinite == LlamaTrainer.OnNonFinite.FAIL) {
            assertThrows(NonFiniteTrainingException.class, () -> trainer.step(b[0], b[1], BATCH, TINY.seq()), what);
        } else {
            assertTrue(trainer.step(b[0], b[1], BATCH, TINY.seq()).skipped(), what);
        }
        assertEquals(1, trainer.optimizer().steps(), what + ": optimizer steps");
        model.namedParameters().forEach((name, p) ->
                assertArrayEquals(weights.get(name), p.value().toFloatArray(), what + ": " + name));
        assertEquals(moments.keySet(), trainer.optimizer().state().keySet(), what);
        trainer.optimizer().state().forEach((name, m) -> assertArrayEquals(moments.get(name), m, what + ": " + name));
    }

    @Test
    void aNonFiniteGradientNamesTheParameterAndSkippingLeavesTheWeights() {
        Poisoned[] q = new Poisoned[1];
        Init.seed(14);
        LlamaModel model = new LlamaModel(TINY, DType.F32,
                (name, in, out) -> name.equals("blocks.0.attn.q") ? (q[0] = new Poisoned(in, out)) : new Linear(in, out));
        q[0].gradient = true;
        int[][] b = batch(0);
        LlamaTrainer failing = new LlamaTrainer(model, settings(LlamaTrainer.OnNonFinite.FAIL));
        var e = assertThrows(NonFiniteTrainingException.class, () -> failing.step(b[0], b[1], BATCH, TINY.seq()));
        assertTrue(e.getMessage().startsWith("step 0: the gradient of blocks.0.attn.q.weight holds NaN or Inf (the loss, "),
                e.getMessage());

        LlamaTrainer skipping = new LlamaTrainer(model, settings(LlamaTrainer.OnNonFinite.SKIP_STEP));
        Parameter w = model.namedParameters().get("blocks.0.mlp.up.weight");
        float[] before = w.value().toFloatArray();
        LlamaTrainer.StepResult r = skipping.step(b[0], b[1], BATCH, TINY.seq());
        assertTrue(r.skipped());
        assertEquals(0, skipping.optimizer().steps());
        assertEquals(1, skipping.steps());
        assertTrue(Arrays.equals(before, w.value().toFloatArray()), "a skipped step leaves the weights");
        q[0].gradient = false;
        assertFalse(skipping.step(b[0], b[1], BATCH, TINY.seq()).skipped());
        assertEquals(1, skipping.optimizer().steps());
    }
}
