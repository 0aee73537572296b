package dev.float8j.samples.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.Float8Layers;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** The samples' annotated layers, as the build generated them: found by Float8Layers, and equal to Float8Linear. */
class SampleLayersTest {
    static final List<Class<? extends Linear>> LAYERS = List.of(FeedForwardUp.class, FeedForwardDown.class, AttentionOutput.class);

    static <L extends Linear> L seeded(Supplier<L> make) {
        Init.seed(3);
        return make.get();
    }

    @Test
    void generatedLayersMatchTheGenericLayerBitForBit() {
        for (Class<? extends Linear> type : LAYERS) {
            Linear generated = seeded(() -> Float8Layers.create(type, 136, 72));
            assertInstanceOf(type, generated);
            assertEquals(type.getName() + "Float8", generated.getClass().getName());
            Linear generic = seeded(() -> new Float8Linear(136, 72, Float8Layers.plan(type)));
            Init.seed(4);
            Tensor x = Tensor.of(Init.normal(3 * 10 * 136, 1f), 3, 10, 136);
            Tensor dy = Tensor.of(Init.normal(3 * 10 * 72, 1e-2f), 3, 10, 72);
            assertArrayEquals(generic.forward(x).data(), generated.forward(x).data(), type.getSimpleName());
            assertEquals(generic.savedBytes(), generated.savedBytes(), type.getSimpleName());
            assertArrayEquals(generic.backward(dy).data(), generated.backward(dy).data(), type.getSimpleName());
            assertArrayEquals(generic.weight().grad().data(), generated.weight().grad().data(), type.getSimpleName());
        }
    }

    /** A Linear without @Float8: no generated class. */
    static class Plain extends Linear {
        Plain(int in, int out) {
            super(in, out);
        }
    }

    @Test
    void aLayerWithoutGeneratedClassSaysWhy() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Float8Layers.create(Plain.class, 4, 4));
        assertTrue(e.getMessage().contains("no generated class dev.float8j.samples.layers.SampleLayersTest_PlainFloat8"),
                e.getMessage());
        assertTrue(e.getMessage().contains("annotationProcessorPaths"), e.getMessage());
    }
}
