package dev.float8j.runtime.nn.transformer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Float8Plan;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ForwardingBackend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.GradMode;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.LinearFactory;
import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.ops.AddNormResult;
import dev.float8j.runtime.ops.AttentionGrads;
import dev.float8j.runtime.ops.AttentionResult;
import dev.float8j.runtime.ops.LossResult;
import dev.float8j.runtime.ops.ModelOps;
import dev.float8j.runtime.ops.NormResult;
import dev.float8j.runtime.ops.TokenIds;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A device backend frees a tensor's memory when its last view is released, so a training step holds only what it
 * still needs when every module releases its temporaries, its saves once used and the gradients it made once
 * consumed. These tests record every tensor the backend and its ops make during a step and check that everything
 * but the step's results was released by its end: a module that forgot one would hold it until the step's scope
 * closes, which on a GPU is what made the peak memory grow with every layer.
 */
class LlamaReleaseTest {
    private static final LlamaConfig TWO_BLOCKS = LlamaConfig.of(8, 2, 4, 2, 12, 11, 4);
    private final Backend before = Backends.current();

    @AfterEach
    void restore() {
        Backends.use(before);
    }

    /** Every tensor made through the backend or its ops, in order. */
    private static final class Recording extends ForwardingBackend {
        final List<Object> made = new ArrayList<>();
        private final ModelOps ops;

        Recording(Backend inner) {
            super(inner);
            ModelOps real = inner.ops();
            ops = (ModelOps) Proxy.newProxyInstance(ModelOps.class.getClassLoader(), new Class<?>[] {ModelOps.class},
                    (proxy, method, args) -> {
                        try {
                            return record(method.invoke(real, args));
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
        }

        private <T> T record(T result) {
            switch (result) {
                case Tensor t -> made.add(t);
                case Float8Tensor q -> made.add(q);
                case Tensor[] ts -> made.addAll(List.of(ts));
                case NormResult n -> made.addAll(List.of(n.y(), n.inverseRms()));
                case AddNormResult r -> made.addAll(List.of(r.sum(), r.norm().y(), r.norm().inverseRms()));
                case AttentionResult a -> made.addAll(List.of(a.out(), a.logSumExp()));
                case AttentionGrads g -> made.addAll(List.of(g.dQ(), g.dK(), g.dV()));
                case LossResult l -> made.addAll(List.of(l.loss(), l.dLogits()));
                case null, default -> {
                }
            }
            return result;
        }

        @Override
        public ModelOps ops() {
            return ops;
        }

        @Override
        public ModelOps hostOps() {
            return ops;
        }

        @Override
        public Float8Tensor quantize(Tensor x, QuantSpec spec) {
            return record(super.quantize(x, spec));
        }

        @Override
        public Tensor dequantize(Float8Tensor q) {
            return record(super.dequantize(q));
        }

        @Override
        public Float8Tensor requantize(Float8Tensor q, QuantSpec spec) {
            return record(super.requantize(q, spec));
        }

        @Override
        public Tensor gemm(Float8Tensor a, Float8Tensor b) {
            return record(super.gemm(a, b));
        }

        @Override
        public Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis) {
            return record(super.matmul(a, aAxis, b, bAxis));
        }

        @Override
        public Tensor copy(Tensor t) {
            return record(super.copy(t));
        }

        /** What was made and never released, but result. */
        List<Object> liveBesides(Tensor result) {
            return made.stream().filter(o -> o != result)
                    .filter(o -> o instanceof Tensor t ? !t.isReleased() : !((Float8Tensor) o).isReleased()).toList();
        }
    }

    private static LinearFactory fp8ExceptHead(Float8Plan plan) {
        return (name, in, out) -> name.equals("head") ? new Linear(in, out) : new Float8Linear(in, out, plan);
    }

    private static Recording step(LinearFactory linears, DType activations, boolean backward) {
        Recording backend = new Recording(new ReferenceBackend());
        Backends.use(backend);
        Init.seed(11);
        LlamaModel model = new LlamaModel(TWO_BLOCKS, activations, linears);
        TokenIds inputs = model.tokens(LlamaModelTest.tokens(1, 8, 11), 2, 4);
        TokenIds targets = model.tokens(LlamaModelTest.tokens(2, 8, 11), 2, 4);
        backend.made.clear();  // the model's own parameters are not the step's
        if (backward) {
            LossResult loss = model.forwardLoss(inputs, targets);
            model.backward(loss);
            assertEquals(List.of(), backend.liveBesides(loss.loss()), "only the loss outlives the step");
            assertFalse(loss.loss().isReleased());
        } else {
            try (GradMode.Scope noGrad = GradMode.disabled()) {
                Tensor logits = model.forward(inputs);
                assertEquals(List.of(), backend.liveBesides(logits), "only the logits outlive a forward without grad");
                assertFalse(logits.isReleased());
            }
        }
        return backend;
    }

    @Test
    void aHighPrecisionStepReleasesEverythingButTheLoss() {
        Recording r = step(LinearFactory.highPrecision(), DType.F32, true);
        assertTrue(r.made.size() > 50, "the recording saw the step's tensors: " + r.made.size());
    }

    @Test
    void aTensorwiseStepReleasesEverythingButTheLoss() {
        Recording r = step(fp8ExceptHead(Float8Plan.tensorwise()), DType.BF16, true);
        assertTrue(r.made.stream().anyMatch(o -> o instanceof Float8Tensor), "FP8 casts were made");
    }

    @Test
    void aRowwiseStepReleasesEverythingButTheLoss() {
        Recording r = step(fp8ExceptHead(Float8Plan.rowwise()), DType.BF16, true);
        assertTrue(r.made.stream().anyMatch(o -> o instanceof Float8Tensor), "FP8 casts were made");
    }

    @Test
    void aForwardWithoutGradReleasesEverythingButTheLogits() {
        step(fp8ExceptHead(Float8Plan.tensorwise()), DType.BF16, false);
    }

    @Test
    void aForwardWatchingEachModuleReleasesEverythingButTheLogits() {
        // that forward makes each block's output with an add of its own (LlamaModel.forward)
        Recording backend = new Recording(new ReferenceBackend());
        Backends.use(backend);
        Init.seed(11);
        LlamaModel model = new LlamaModel(TWO_BLOCKS, DType.BF16, fp8ExceptHead(Float8Plan.tensorwise()));
        TokenIds inputs = model.tokens(LlamaModelTest.tokens(1, 8, 11), 2, 4);
        backend.made.clear();
        List<String> seen = new ArrayList<>();
        try (GradMode.Scope noGrad = GradMode.disabled()) {
            Tensor logits = model.forward(inputs, (name, y) -> seen.add(name));
            assertEquals(List.of(), backend.liveBesides(logits), "only the logits outlive a watched forward");
        }
        assertEquals(5, seen.size(), seen.toString());
    }
}
