package dev.float8j.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Float8Recipes;
import dev.float8j.plan.Gemm;
import dev.float8j.runtime.Tensor;
import java.util.ArrayList;
import dev.float8j.runtime.backend.ForwardingBackend;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.cpu.CpuBackend;
import dev.float8j.runtime.debug.Float8Debug;
import dev.float8j.runtime.train.AdamW;
import dev.float8j.runtime.train.Checkpoint;
import dev.float8j.runtime.train.MeanSquaredError;
import dev.float8j.runtime.train.Sgd;
import dev.float8j.runtime.train.Weights;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class WeightCastReuseTest {
    private static final int MICRO_BATCHES = 3;
    private static final int STEPS = 3;
    private final Backend before = Backends.current();

    @TempDir
    Path dir;

    @AfterEach
    void restore() {
        Backends.use(before);
        WeightCastReuse.setEnabled(true);
        Float8Debug.clearSwitches();
    }

    private static Sequential net(Float8Plan plan) {
        Init.seed(7);
        return new Sequential(new Float8Linear(32, 48, plan), new Activation(Activation.Kind.GELU),
                new Float8Linear(48, 16, plan, true));
    }

    private static Tensor batch(long seed, int cols) {
        Init.seed(seed);
        return Tensor.of(Init.normal(8 * cols, 1f), 8, cols);
    }

    /** STEPS optimizer steps of MICRO_BATCHES accumulated micro-batches each, every step's passes in one window. */
    private static float[] train(Sequential model, boolean reuse) {
        WeightCastReuse.setEnabled(reuse);
        AdamW optimizer = new AdamW(model.parameters(), 1e-2, 0.01);
        MeanSquaredError loss = new MeanSquaredError();
        for (int step = 0; step < STEPS; step++) {
            model.zeroGrad();
            try (WeightCastReuse.Window casts = WeightCastReuse.open()) {
                for (int m = 0; m < MICRO_BATCHES; m++) {
                    long seed = 100 + step * MICRO_BATCHES + m;
                    loss.forward(model.forward(batch(seed, 32)), batch(seed + 1000, 16));
                    model.backward(loss.backward());
                }
            }
            optimizer.step();
        }
        return weights(model);
    }

    private static float[] weights(Module model) {
        List<Parameter> params = model.parameters();
        int n = 0;
        for (Parameter p : params) {
            n += p.value().size();
        }
        float[] all = new float[n];
        int at = 0;
        for (Parameter p : params) {
            float[] v = p.toHost(p.value()).toFloatArray();
            System.arraycopy(v, 0, all, at, v.length);
            at += v.length;
        }
        return all;
    }

    @ParameterizedTest
    @ValueSource(strings = {"tensorwise", "rowwise", "rowwise_both_axes", "rowwise_with_gw_hp", "blockwise", "mx"})
    void accumulatedTrainingIsBitIdenticalWithAndWithoutReuse(String recipe) {
        for (Backend backend : List.of(new ReferenceBackend(), new CpuBackend())) {
            Backends.use(backend);
            Float8Plan plan = Float8Recipes.named(recipe);
            float[] without = train(net(plan), false);
            float[] with = train(net(plan), true);
            assertArrayEquals(without, with, recipe + " on " + backend.name());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tensorwise", "rowwise", "blockwise"})
    void quantizesEachWeightOncePerSpecPerOptimizerStep(String recipe) {
        CountingBackend counting = new CountingBackend(new ReferenceBackend());
        Backends.use(counting);
        Sequential model = net(Float8Recipes.named(recipe));
        int weights = 0;
        for (Parameter p : model.parameters()) {
            if (p.name().endsWith("weight")) {
                counting.watch(p.value());
                weights++;
            }
        }
        // per weight: the output gemm's W along axis 1, and grad_input's W along axis 0 unless the granularity transposes
        int specs = recipe.equals("rowwise") ? 2 : 1;

        train(model, true);
        assertEquals(STEPS * weights * specs, counting.watchedQuantizations(), "with reuse: once per spec per step");
        assertEquals(0, counting.unreleasedFromWatched(), "every cached copy goes back through Backend.release");

        counting.resetCounts();
        train(model, false);
        assertEquals(STEPS * weights * 2 * MICRO_BATCHES, counting.watchedQuantizations(),
                "without reuse: twice per micro-batch");
    }

    /**
     * A high-precision layer asks the backend for its weight as the gemm reads it once per optimizer step inside a
     * window (a GPU's BF16 copy beside BF16 activations), and not at all outside one, where the gemm converts per
     * call; every pass gives the same bits either way (a stale copy after an update would not), and the copies go
     * back through Backend.release. The backend here converts as the CUDA backend does: F32 beside BF16 to BF16.
     */
    @Test
    void aHighPrecisionWeightIsConvertedOncePerOptimizerStep() {
        final class Converting extends ForwardingBackend {
            final List<Tensor> made = new ArrayList<>();

            Converting() {
                super(new ReferenceBackend());
            }

            @Override
            public Tensor matmulOperand(Tensor t, DType other) {
                Tensor copy = t.dtype() == DType.F32 && other == DType.BF16 ? t.to(DType.BF16) : t;
                if (copy != t) {
                    made.add(copy);
                }
                return copy;
            }

            @Override
            public Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis) {
                return super.matmul(a.dtype() == DType.F32 && b.dtype() == DType.BF16 ? a.to(DType.BF16) : a, aAxis,
                        b.dtype() == DType.F32 && a.dtype() == DType.BF16 ? b.to(DType.BF16) : b, bAxis);
            }
        }
        List<List<float[]>> passes = new ArrayList<>();
        for (boolean reuse : new boolean[] {false, true}) {
            Converting converting = new Converting();
            Backends.use(converting);
            WeightCastReuse.setEnabled(reuse);
            Init.seed(8);
            Linear layer = new Linear(32, 16);
            AdamW optimizer = new AdamW(layer.parameters(), 1e-2, 0.01);
            List<float[]> results = new ArrayList<>();
            for (int step = 0; step < STEPS; step++) {
                layer.zeroGrad();
                try (WeightCastReuse.Window casts = WeightCastReuse.open()) {
                    for (int m = 0; m < MICRO_BATCHES; m++) {
                        results.add(layer.forward(batch(10 * step + m, 32).to(DType.BF16)).toFloatArray());
                        results.add(layer.backward(batch(50 + 10 * step + m, 16).to(DType.BF16)).toFloatArray());
                    }
                }
                optimizer.step();
            }
            assertEquals(reuse ? STEPS : 0, converting.made.size(), "conversions with reuse " + reuse);
            converting.made.forEach(t -> assertTrue(t.isReleased(), "the cached copy is released"));
            passes.add(results);
        }
        for (int i = 0; i < passes.get(0).size(); i++) {
            assertArrayEquals(passes.get(0).get(i), passes.get(1).get(i), "pass result " + i);
        }
    }

    @Test
    void passesOutsideAWindowQuantizeEveryTime() {
        CountingBackend counting = new CountingBackend(new ReferenceBackend());
        Backends.use(counting);
        Float8Linear layer = new Float8Linear(16, 8, Float8Plan.tensorwise());
        counting.watch(layer.weight().value());
        Tensor x = batch(1, 16);
        layer.forward(x);
        layer.forward(x);
        assertEquals(2, counting.watchedQuantizations());
        assertEquals(0, counting.unreleasedFromWatched());
    }

    @Test
    void aGemmSwitchedOffByFloat8DebugRunsInHighPrecisionInsideAWindow() {
        Backends.use(new ReferenceBackend());
        Float8Debug.switchOff("*", Gemm.OUTPUT);
        float[] without = train(net(Float8Plan.rowwise()), false);
        float[] with = train(net(Float8Plan.rowwise()), true);
        assertArrayEquals(without, with);
    }

    // ---- every write path to a weight must invalidate the cached copies ----

    /**
     * Fills the cache with a forward and a backward inside a window, writes the weight through write, and checks
     * that the next forward and backward in the same window equal those of a layer that never cached, holding the
     * new weight.
     */
    private void checkInvalidatedBy(String recipe, Consumer<Float8Linear> write) {
        Backends.use(new ReferenceBackend());
        Float8Plan plan = Float8Recipes.named(recipe);
        Float8Linear layer = layer(plan, 3);
        Tensor x = batch(11, 16);
        Tensor dY = batch(12, 24);
        float[] y0;
        float[] y1;
        float[] dX1;
        try (WeightCastReuse.Window casts = WeightCastReuse.open()) {
            y0 = layer.forward(x).toFloatArray();
            layer.backward(dY);
            write.accept(layer);
            y1 = layer.forward(x).toFloatArray();
            dX1 = layer.backward(dY).toFloatArray();
        }
        Float8Linear fresh = new Float8Linear(16, 24, plan);
        System.arraycopy(layer.weight().value().data(), 0, fresh.weight().value().data(), 0, 16 * 24);
        assertFalse(java.util.Arrays.equals(y0, fresh.forward(x).toFloatArray()), "the write changed the output");
        fresh.discardSaved();
        assertArrayEquals(fresh.forward(x).toFloatArray(), y1, recipe + ": forward after the write");
        assertArrayEquals(fresh.backward(dY).toFloatArray(), dX1, recipe + ": grad_input after the write");
    }

    private static Float8Linear layer(Float8Plan plan, long seed) {
        Init.seed(seed);
        return new Float8Linear(16, 24, plan);
    }

    /** Both a granularity served by one transposed copy and one that caches a copy per axis. */
    private static final List<String> RECIPES = List.of("tensorwise", "rowwise");

    @Test
    void anAdamWStepInvalidates() {
        for (String recipe : RECIPES) {
            checkInvalidatedBy(recipe, l -> new AdamW(l.parameters(), 0.05, 0).step());
        }
    }

    @Test
    void anSgdStepInvalidates() {
        for (String recipe : RECIPES) {
            checkInvalidatedBy(recipe, l -> new Sgd(l.parameters(), 0.5, 0, 0).step());
        }
    }

    @Test
    void loadingWeightsInvalidates() throws Exception {
        for (String recipe : RECIPES) {
            Path file = dir.resolve(recipe + ".safetensors");
            Weights.save(layer(Float8Recipes.named(recipe), 99), file);
            checkInvalidatedBy(recipe, l -> {
                try {
                    Weights.load(l, file);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        }
    }

    @Test
    void loadingACheckpointInvalidates() throws Exception {
        for (String recipe : RECIPES) {
            Path file = dir.resolve(recipe + ".ckpt");
            Float8Linear other = layer(Float8Recipes.named(recipe), 99);
            Checkpoint.save(file, other, new Sgd(other.parameters(), 0.1, 0, 0), 0, Map.of());
            checkInvalidatedBy(recipe, l -> {
                try {
                    Checkpoint.load(file, l, new Sgd(l.parameters(), 0.1, 0, 0));
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        }
    }

    @Test
    void copyFromHostInvalidates() {
        for (String recipe : RECIPES) {
            checkInvalidatedBy(recipe, l -> l.weight().copyFromHost(l.weight().value(), Init.normal(16 * 24, 0.5f)));
        }
    }

    @Test
    void sharingAnotherParametersTensorsInvalidates() {
        for (String recipe : RECIPES) {
            checkInvalidatedBy(recipe, l -> l.weight().shareTensorsOf(layer(Float8Recipes.named(recipe), 99).weight()));
        }
    }

    @Test
    void anOptimizerOfASharedParameterInvalidatesTheOtherHolder() {
        // a converted layer shares the old one's tensors; an optimizer made on the old parameters updates both
        for (String recipe : RECIPES) {
            Float8Linear old = layer(Float8Recipes.named(recipe), 99);
            checkInvalidatedBy(recipe, l -> {
                l.weight().shareTensorsOf(old.weight());
                l.forward(batch(11, 16)); // caches the shared weight
                l.discardSaved();
                old.weight().accumulateGrad(Tensor.of(Init.normal(16 * 24, 1f), 24, 16));
                new Sgd(old.parameters(), 0.5, 0, 0).step();
            });
        }
    }

    @Test
    void markChangedAfterAWriteOfOnesOwnInvalidates() {
        for (String recipe : RECIPES) {
            checkInvalidatedBy(recipe, l -> {
                float[] w = l.weight().value().data();
                for (int i = 0; i < w.length; i++) {
                    w[i] = -w[i] * 1.5f;
                }
                l.weight().markChanged();
            });
        }
    }
}
