package dev.float8j.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.QuantSpec;
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
 * Layers reading one {@link SharedInput} give exactly what they give reading the tensor, forward and backward, while
 * each FP8 cast of the input is made once per spec and a high-precision save is a view instead of a copy.
 */
class SharedInputTest {
    private static final int IN = 24;
    private final Backend before = Backends.current();

    @AfterEach
    void restore() {
        Backends.use(before);
    }

    /** Counts quantizations of tensors with IN columns (the input's; the weights here have other shapes) and copies. */
    private static final class Counting extends ForwardingBackend {
        final List<Float8Tensor> inputCasts = new ArrayList<>();
        int copies;
        /** Input casts made by the forward passes (backward may cast the saved input again). */
        int forwardCasts;

        Counting() {
            super(new ReferenceBackend());
        }

        @Override
        public Float8Tensor quantize(Tensor x, QuantSpec spec) {
            Float8Tensor q = super.quantize(x, spec);
            if (x.cols() == IN && x.rows() == 12) {
                inputCasts.add(q);
            }
            return q;
        }

        @Override
        public Tensor copy(Tensor t) {
            copies++;
            return super.copy(t);
        }
    }

    private static Float8Plan plan(String name) {
        return switch (name) {
            case "tensorwise" -> Float8Plan.tensorwise();
            case "rowwise" -> Float8Plan.rowwise();
            case "blockwise" -> Float8Plan.blockwise();
            default -> throw new IllegalArgumentException(name);
        };
    }

    private static List<Linear> layers(Float8Plan plan) {
        Init.seed(5);
        return List.of(new Float8Linear(IN, 16, plan), new Float8Linear(IN, 8, plan), new Float8Linear(IN, 8, plan));
    }

    private static Tensor input() {
        Init.seed(6);
        return Tensor.of(Init.normal(12 * IN, 1f), 12, IN);
    }

    /** Forward all three, then backward all three: outputs, dX and weight gradients, in order. */
    private static List<float[]> run(List<Linear> layers, boolean shared) {
        Counting backend = (Counting) Backends.current();
        return LayerPasses.forwardThenBackward(layers, input(), shared,
                () -> backend.forwardCasts = backend.inputCasts.size());
    }

    @ParameterizedTest
    @ValueSource(strings = {"tensorwise", "rowwise", "blockwise"})
    void sharingGivesTheSameResultsWithOneCastPerSpec(String name) {
        Counting separate = new Counting();
        Backends.use(separate);
        List<float[]> expected = run(layers(plan(name)), false);
        Counting shared = new Counting();
        Backends.use(shared);
        List<float[]> actual = run(layers(plan(name)), true);
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) {
            assertArrayEquals(expected.get(i), actual.get(i), 0f, name + ": result " + i);
        }
        assertTrue(separate.forwardCasts >= 3, name + ": each layer casts x on its own: " + separate.forwardCasts);
        assertEquals(separate.forwardCasts / 3, shared.forwardCasts, name + ": x is cast once per spec");
        for (Float8Tensor q : shared.inputCasts) {
            assertTrue(q.isReleased(), name + ": every view of the shared cast was released after backward");
        }
        assertTrue(shared.copies < separate.copies || separate.copies == 0,
                name + ": high-precision saves are views, not copies (" + shared.copies + " vs " + separate.copies + ")");
    }

    @ParameterizedTest
    @ValueSource(strings = {"tensorwise", "rowwise"})
    void aClosedSharedInputRefusesNewCastsButTheLayersKeepTheirs(String name) {
        Backends.use(new Counting());
        List<Linear> layers = layers(plan(name));
        Tensor x = input();
        SharedInput in = SharedInput.of(x);
        layers.get(0).forward(in);
        in.close();
        assertThrows(IllegalStateException.class, () -> layers.get(1).forward(in));
        assertEquals(12 * IN, layers.get(0).backward(LayerPasses.gradOutput(12, 16, 3)).size());
    }
}
