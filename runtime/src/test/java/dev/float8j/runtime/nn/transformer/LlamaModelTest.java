package dev.float8j.runtime.nn.transformer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.GradMode;
import dev.float8j.runtime.nn.GradientCheck;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.LinearFactory;
import dev.float8j.runtime.nn.Parameter;
import dev.float8j.runtime.ops.LossResult;
import dev.float8j.runtime.ops.TokenIds;
import dev.float8j.plan.Float8Plan;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LlamaModelTest {
    /** Tiny but complete: two blocks, grouped-query heads (4 query heads share 2 kv heads), rotary pairs. */
    static final LlamaConfig TINY = LlamaConfig.of(8, 2, 4, 2, 12, 11, 4);

    static int[] tokens(long seed, int n, int vocabulary) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = r.nextInt(vocabulary);
        }
        return out;
    }

    /** The loss at the model's current weights; a zero backward keeps every layer's saved state balanced. */
    private static double loss(LlamaModel model, TokenIds inputs, TokenIds targets) {
        LossResult r = model.forwardLoss(inputs, targets);
        model.backward(Tensor.zeros(r.dLogits().dtype(), r.dLogits().shape()));
        return r.loss().get(0, 0);
    }

    @Test
    void everyParameterGradientMatchesFiniteDifferences() {
        Init.seed(3);
        LlamaModel model = new LlamaModel(TINY, DType.F32, LinearFactory.highPrecision());
        // gains other than one, so their gradient paths are exercised
        for (Parameter p : model.parameters()) {
            if (p.name().endsWith("norm.weight")) {
                float[] g = p.value().data();
                for (int i = 0; i < g.length; i++) {
                    g[i] = 0.6f + 0.1f * i;
                }
            }
        }
        TokenIds inputs = model.tokens(tokens(1, 8, 11), 2, 4);
        TokenIds targets = model.tokens(tokens(2, 8, 11), 2, 4);
        model.zeroGrad();
        model.backward(model.forwardLoss(inputs, targets).dLogits());
        Map<String, Parameter> params = model.namedParameters();
        assertEquals(2 + 2 * (2 + 7) + 1, params.size(), params.keySet().toString()); // embed, norm, head + 9 per block
        for (Parameter p : params.values()) { // 16 entries of each, spread over it, keep the test fast
            float[] analytic = p.grad().toFloatArray();
            GradientCheck.compare(p.name(), analytic, p.value().data(), () -> loss(model, inputs, targets), 1e-2, 3e-2,
                    16);
        }
    }

    @Test
    void theFactorySeesEveryLinearByItsFullyQualifiedName() {
        List<String> names = new ArrayList<>();
        LinearFactory recording = (name, in, out) -> {
            names.add(name + " " + in + "x" + out);
            return name.equals("head") ? new Linear(in, out) : new Float8Linear(in, out, Float8Plan.tensorwise());
        };
        LlamaModel model = new LlamaModel(LlamaConfig.of(8, 1, 4, 2, 12, 11, 4), DType.F32, recording);
        assertEquals(List.of("blocks.0.attn.q 8x8", "blocks.0.attn.k 8x4", "blocks.0.attn.v 8x4", "blocks.0.attn.o 8x8",
                "blocks.0.mlp.gate 8x12", "blocks.0.mlp.up 8x12", "blocks.0.mlp.down 12x8", "head 8x11"), names);
        for (var m : model.modules()) {
            if (m instanceof Linear l) {
                assertEquals(m.name().equals("head") ? Linear.class : Float8Linear.class, l.getClass(), m.name());
            }
        }
        assertInstanceOf(Float8Linear.class, model.children().get("blocks").children().get("0").children().get("attn")
                .children().get("q"));
    }

    @Test
    void bf16ActivationsGiveBf16LogitsAndALossNearF32() {
        Init.seed(4);
        LlamaModel f32 = new LlamaModel(TINY, DType.F32, LinearFactory.highPrecision());
        Init.seed(4);
        LlamaModel bf16 = new LlamaModel(TINY, DType.BF16, LinearFactory.highPrecision());
        TokenIds inputs = f32.tokens(tokens(5, 8, 11), 2, 4);
        TokenIds targets = f32.tokens(tokens(6, 8, 11), 2, 4);
        LossResult a = f32.forwardLoss(inputs, targets);
        LossResult b = bf16.forwardLoss(inputs, targets);
        assertEquals(DType.BF16, b.dLogits().dtype());
        assertEquals(a.loss().get(0, 0), b.loss().get(0, 0), 0.02 * a.loss().get(0, 0));
        bf16.backward(b.dLogits());
        for (Parameter p : bf16.parameters()) {
            for (float g : p.grad().toFloatArray()) {
                assertTrue(Float.isFinite(g), p.name());
            }
        }
    }

    @Test
    void aFloat8ModelRunsForwardAndBackward() {
        Init.seed(5);
        LlamaModel model = new LlamaModel(TINY, DType.BF16,
                (name, in, out) -> name.equals("head") ? new Linear(in, out) : new Float8Linear(in, out, Float8Plan.rowwise()));
        TokenIds inputs = model.tokens(tokens(7, 8, 11), 2, 4);
        LossResult r = model.forwardLoss(inputs, model.tokens(tokens(8, 8, 11), 2, 4));
        assertTrue(r.loss().get(0, 0) > 0);
        model.backward(r.dLogits());
        assertEquals(0, model.savedBytes(), "backward consumed every saved input");
    }

    @Test
    void watchingEachModuleOutputGivesTheSameLogitsAsTheFusedForward() {
        Init.seed(5);
        LlamaModel model = new LlamaModel(TINY, DType.BF16, LinearFactory.highPrecision());
        TokenIds inputs = model.tokens(tokens(3, 8, 11), 2, 4);
        Tensor fused;
        Tensor watched;
        List<String> seen = new ArrayList<>();
        try (GradMode.Scope noGrad = GradMode.disabled()) {
            fused = model.forward(inputs);
            watched = model.forward(inputs, (name, y) -> seen.add(name));
        }
        assertEquals(List.of("embed", "blocks.0", "blocks.1", "norm", "head"), seen);
        assertEquals(Arrays.toString(fused.toFloatArray()), Arrays.toString(watched.toFloatArray()));
    }

    @Test
    void sequencesLongerThanTheConfigAreRejected() {
        LlamaModel model = new LlamaModel(TINY, DType.F32, LinearFactory.highPrecision());
        var e = assertThrows(IllegalArgumentException.class, () -> model.forward(model.tokens(new int[5], 1, 5)));
        assertTrue(e.getMessage().contains("longer than the model's 4"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LlamaConfig.of(8, 1, 4, 3, 12, 11, 4));
        assertThrows(IllegalArgumentException.class, () -> LlamaConfig.of(12, 1, 4, 2, 12, 11, 4)); // odd head dim 3
    }
}
