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
 * A backend that prefers both-axes casts ({@link Backend#prefersBothAxesCasts}, as the GPU does) gets x cast along
 * both axes in forward: for a transposeable plan (tensorwise, 128x128 blocks) instead of transposing its forward copy
 * in backward, for KEEP_HIGH_PRECISION (rowwise, 1x128) instead of saving x and casting it along axis 0 in backward.
 * Outputs and gradients are bit for bit those of the other path, with and without a shared input, and every FP8 copy
 * goes back to the backend. Inside a {@link WeightCastReuse} window the weight is cast along both axes once too.
 */
class BothAxesPreferenceTest {
    private static final int IN = 32;
    private static final int ROWS = 40;
    private final Backend before = Backends.current();

    @AfterEach
    void restore() {
        Backends.use(before);
    }

    /** The reference backend, preferring both-axes casts or not, counting x's and the FP8 tensors it made. */
    private static final class Preferring extends ForwardingBackend {
        final boolean prefers;
        int inputBothAxesCasts;
        int weightBothAxesCasts;
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
            // x's and W's (dY may be cast along both axes on every path)
            if (x.cols() == IN && x.rows() == ROWS) {
                inputBothAxesCasts++;
            } else if (x.cols() == IN) {
                weightBothAxesCasts++;
            }
            Float8Tensor[] both = super.quantizeBothAxes(x, alongColumns, alongRows);
            made.addAll(List.of(both));
            return both;
        }
    }

    private static Float8Plan plan(String name) {
        return switch (name) {
            case "tensorwise" -> Float8Plan.tensorwise();
            case "rowwise" -> Float8Plan.rowwise();
            case "blockwise" -> Float8Plan.blockwise();
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

    /**
     * Two layers reading one input (shared or not), forward then backward, inside a weight-cast window or not:
     * outputs, dX and weight gradients.
     */
    private static List<float[]> run(Float8Plan plan, boolean shared, boolean window) {
        try (WeightCastReuse.Window w = window ? WeightCastReuse.open() : null) {
            return run(plan, shared);
        }
    }

    private static List<float[]> run(Float8Plan plan, boolean shared) {
        Init.seed(5);
        List<Linear> layers = List.of(new Float8Linear(IN, 16, plan), new Float8Linear(IN, 48, plan));
        Init.seed(6);
        Tensor x = Tensor.of(Init.normal(ROWS * IN, 1f), ROWS, IN);
        return LayerPasses.forwardThenBackward(layers, x, shared, () -> { });
    }

    @ParameterizedTest
    @ValueSource(strings = {"tensorwise", "blockwise_128x128", "rowwise", "blockwise"})
    void castingBothAxesInForwardGivesTheOtherPathsBits(String name) {
        Float8Plan plan = plan(name);
        // transposeable x: saved in FP8 to transpose; else (KEEP_HIGH_PRECISION) saved as is, to cast in backward
        boolean transposeable = plan.output().first().granularity().transposeable();
        assertEquals(transposeable ? Float8Plan.SavedInput.FORWARD_FP8_TRANSPOSED : Float8Plan.SavedInput.HIGH_PRECISION,
                plan.savedInput(), name);
        for (int variant = 0; variant < 4; variant++) {
            boolean shared = (variant & 1) != 0;
            boolean window = (variant & 2) != 0;
            Preferring transposing = new Preferring(false);
            Backends.use(transposing);
            List<float[]> expected = run(plan, shared, window);
            Preferring bothAxes = new Preferring(true);
            Backends.use(bothAxes);
            List<float[]> actual = run(plan, shared, window);
            String what = name + (shared ? ", shared input" : "") + (window ? ", weight casts reused" : "");
            for (int i = 0; i < expected.size(); i++) {
                assertArrayEquals(expected.get(i), actual.get(i), 0f, what + ": result " + i);
            }
            assertEquals(0, transposing.inputBothAxesCasts, what + ": x transposed or cast again in backward");
            assertEquals(shared ? 1 : 2, bothAxes.inputBothAxesCasts, what + ": x cast along both axes in forward");
            assertEquals(0, transposing.weightBothAxesCasts, what + ": W transposed or cast again for grad_input");
            assertEquals(window ? 2 : 0, bothAxes.weightBothAxesCasts, what + ": W cast along both axes once per window");
            for (Float8Tensor q : bothAxes.made) {
                assertTrue(q.isReleased(), what + ": every FP8 copy went back to the backend");
            }
        }
    }
}
