package dev.float8j.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Gemm;
import dev.float8j.plan.GemmPlan;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ForwardingBackend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.backends.Backends;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A backend that prefers both-axes casts ({@link Backend#prefersBothAxesCasts}, as the GPU does) gets the input of a
 * transposeable plan (tensorwise, 128x128 blocks) cast along both axes in forward instead of transposed in backward:
 * outputs and gradients are bit for bit those of the transposing path, with and without a shared input, and every
 * FP8 copy goes back to the backend.
 */
class BothAxesPreferenceTest {
    private static final int IN = 32;
    private final Backend before = Backends.current();

    @AfterEach
    void restore() {
        Backends.use(before);
    }

    /** The reference backend, preferring both-axes casts or not, counting x's and the FP8 tensors it made. */
    private static final class Preferring extends ForwardingBackend {
        final boolean prefers;
        int inputBothAxesCasts;
        final List<Float8Tensor> made = new ArrayList<>();

        Preferring(boolean prefers) {
            super(new ReferenceBackend());
            this.prefers = prefers;
        }

        @Override
        public boolean prefersBothAxesCasts() {
            return prefers;
        }

        @Override
        public Float8Tensor quantize(Tensor x, QuantSpec spec) {
            Float8Tensor q = super.quantize(x, spec);
            made.add(q);
            return q;
        }

        @Override
        public Float8Tensor[] quantizeBothAxes(Tensor x, QuantSpec alongColumns, QuantSpec alongRows) {
            if (x.cols() == IN) {
                inputBothAxesCasts++;  // x's (dY may be cast along both axes on every path)
            }
            Float8Tensor[] both = super.quantizeBothAxes(x, alongColumns, alongRows);
            made.addAll(List.of(both));
            return both;
        }
    }

    private static Float8Plan plan(String name) {
        return switch (name) {
            case "tensorwise" -> Float8Plan.tensorwise();
            // blockwise with x in 128x128 blocks too, which transpose exactly
            case "blockwise_128x128" -> {
                Float8Plan b = Float8Plan.blockwise();
                QuantSpec x = QuantSpec.of(Float8Plan.DEFAULT_FORMAT, ScalingGranularity.BLOCK_128X128, 1);
                yield b.with(new GemmPlan(Gemm.OUTPUT, x, b.output().second()))
                        .with(new GemmPlan(Gemm.GRAD_WEIGHT, b.gradWeight().first(), x.otherAxis()));
            }
            default -> throw new IllegalArgumentException(name);
        };
    }

    /** Two layers reading one input (shared or not), forward then backward: outputs, dX and weight gradients. */
    private static List<float[]> run(Float8Plan plan, boolean shared) {
        Init.seed(5);
        List<Linear> layers = List.of(new Float8Linear(IN, 16, plan), new Float8Linear(IN, 48, plan));
        Init.seed(6);
        Tensor x = Tensor.of(Init.normal(40 * IN, 1f), 40, IN);
        List<Tensor> ys = new ArrayList<>();
        if (shared) {
            try (SharedInput in = SharedInput.of(x)) {
                layers.forEach(l -> ys.add(l.forward(in)));
            }
        } else {
            layers.forEach(l -> ys.add(l.forward(x)));
        }
        List<float[]> out = new ArrayList<>();
        ys.forEach(y -> out.add(y.toFloatArray()));
        for (int i = layers.size() - 1; i >= 0; i--) {
            Linear l = layers.get(i);
            Init.seed(10 + i);
            out.add(l.backward(Tensor.of(Init.normal(40 * l.outFeatures(), 0.1f), 40, l.outFeatures())).toFloatArray());
            out.add(l.weight().grad().toFloatArray());
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"tensorwise", "blockwise_128x128"})
    void castingBothAxesInForwardGivesTheTransposingPathsBits(String name) {
        Float8Plan plan = plan(name);
        assertEquals(Float8Plan.SavedInput.FORWARD_FP8_TRANSPOSED, plan.savedInput(), name);
        for (boolean shared : new boolean[] {false, true}) {
            Preferring transposing = new Preferring(false);
            Backends.use(transposing);
            List<float[]> expected = run(plan, shared);
            Preferring bothAxes = new Preferring(true);
            Backends.use(bothAxes);
            List<float[]> actual = run(plan, shared);
            String what = name + (shared ? ", shared input" : "");
            for (int i = 0; i < expected.size(); i++) {
                assertArrayEquals(expected.get(i), actual.get(i), 0f, what + ": result " + i);
            }
            assertEquals(0, transposing.inputBothAxesCasts, what + ": x transposed in backward");
            assertEquals(shared ? 1 : 2, bothAxes.inputBothAxesCasts, what + ": x cast along both axes in forward");
            for (Float8Tensor q : bothAxes.made) {
                assertTrue(q.isReleased(), what + ": every FP8 copy went back to the backend");
            }
        }
    }
}
