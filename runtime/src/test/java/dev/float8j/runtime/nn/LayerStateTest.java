package dev.float8j.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ForwardingBackend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.quant.NonFiniteException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** The state a linear layer keeps between calls: saves, failed calls, threads, no-grad, discarded saves and names. */
class LayerStateTest {
    static final int IN = 40;
    static final int OUT = 24;

    /** Plain Linear and every FP8 plan of Float8LinearTest. */
    static List<Supplier<Linear>> layers() {
        List<Supplier<Linear>> out = new ArrayList<>();
        out.add(() -> new Linear(IN, OUT));
        for (Float8Plan plan : Float8LinearTest.plans()) {
            out.add(() -> new Float8Linear(IN, OUT, plan));
        }
        return out;
    }

    static float[] grad(Linear layer) {
        return layer.weight().grad().data().clone();
    }

    @Test
    void aReusedInputBufferDoesNotChangeTheGradient() {
        for (Supplier<Linear> make : layers()) {
            Linear untouched = Float8LinearTest.seeded(make);
            Linear reused = Float8LinearTest.seeded(make);
            Tensor x = Float8LinearTest.input(1);
            Tensor buffer = x.copy();
            Tensor dy = Float8LinearTest.gradOutput(2);
            untouched.forward(x);
            Tensor dxExpected = untouched.backward(dy);
            reused.forward(buffer);
            Arrays.fill(buffer.data(), 0f);
            Tensor dx = reused.backward(dy);
            assertArrayEquals(grad(untouched), grad(reused), 0f, reused.float8Plan());
            assertArrayEquals(dxExpected.data(), dx.data(), 0f, reused.float8Plan());
        }
    }

    @Test
    void aForwardThatThrowsSavesNothing() {
        for (Supplier<Linear> make : layers()) {
            Linear layer = Float8LinearTest.seeded(make);
            if (!layer.plan().output().fp8()) {
                continue;  // a high-precision gemm does not check for NaN
            }
            layer.weight().value().data()[5] = Float.NaN;
            assertThrows(NonFiniteException.class, () -> layer.forward(Float8LinearTest.input(1)));
            assertEquals(0, layer.savedBytes(), layer.float8Plan());
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> layer.backward(Float8LinearTest.gradOutput(2)));
            assertTrue(e.getMessage().contains("without a matching forward"), e.getMessage());
        }
    }

    @Test
    void aNaNGradientKeepsEarlierGradientsAndTheSave() {
        for (Supplier<Linear> make : layers()) {
            Linear layer = Float8LinearTest.seeded(make);
            Linear reference = Float8LinearTest.seeded(make);
            if (!layer.plan().gradInput().fp8() && !layer.plan().gradWeight().fp8()) {
                continue;  // high-precision gemms pass NaN on, as PyTorch does
            }
            Tensor dy = Float8LinearTest.gradOutput(2);
            for (Linear l : List.of(layer, reference)) {  // an earlier micro-batch
                l.forward(Float8LinearTest.input(3));
                l.backward(dy);
            }
            float[] before = grad(layer);
            layer.forward(Float8LinearTest.input(1));
            long saved = layer.savedBytes();
            Tensor bad = dy.copy();
            bad.data()[7] = Float.NaN;
            assertThrows(NonFiniteException.class, () -> layer.backward(bad));
            assertArrayEquals(before, grad(layer), 0f, layer.float8Plan());
            assertEquals(saved, layer.savedBytes(), layer.float8Plan());

            reference.forward(Float8LinearTest.input(1));
            Tensor dxExpected = reference.backward(dy);
            Tensor dx = layer.backward(dy);  // the retry
            assertArrayEquals(grad(reference), grad(layer), 0f, layer.float8Plan());
            assertArrayEquals(dxExpected.data(), dx.data(), 0f, layer.float8Plan());
        }
    }

    @Test
    void aWrongShapedGradientIsRejectedAndTheRetryWorks() {
        for (Supplier<Linear> make : layers()) {
            Linear layer = Float8LinearTest.seeded(make);
            layer.forward(Float8LinearTest.input(1));  // y is [2, 6, OUT]
            Tensor dy = Float8LinearTest.gradOutput(2);
            assertThrows(IllegalArgumentException.class, () -> layer.backward(Tensor.zeros(dy.dtype(), 2, 6, OUT + 1)));
            IllegalArgumentException swapped = assertThrows(IllegalArgumentException.class,
                    () -> layer.backward(dy.reshape(6, 2, OUT)));
            assertTrue(swapped.getMessage().contains("[6, 2, 24]"), swapped.getMessage());
            assertArrayEquals(new float[IN * OUT], grad(layer), 0f);
            layer.backward(dy);
            assertEquals(0, layer.savedBytes());
        }
    }

    @Test
    void aSecondThreadGetsAClearError() throws Exception {
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch proceed = new CountDownLatch(1);
        Backend blocking = new Recording() {
            @Override
            public Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis) {
                inside.countDown();
                try {
                    assertTrue(proceed.await(10, TimeUnit.SECONDS));
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
                return super.matmul(a, aAxis, b, bAxis);
            }
        };
        Linear layer = new Linear(IN, OUT) {
            @Override
            protected Backend backend() {
                return blocking;
            }
        };
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread first = new Thread(() -> {
            try {
                layer.forward(Float8LinearTest.input(1));
            } catch (Throwable t) {
                failure.set(t);
            }
        }, "trainer-1");
        first.start();
        assertTrue(inside.await(10, TimeUnit.SECONDS));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> layer.forward(Float8LinearTest.input(2)));
        assertTrue(e.getMessage().contains("one thread at a time") && e.getMessage().contains("trainer-1"), e.getMessage());
        proceed.countDown();
        first.join(10_000);
        assertEquals(null, failure.get());
        assertEquals(1, layer.matmul().pendingBackwards());  // only the first thread's forward was recorded
    }

    @Test
    void forwardsWithoutGradSaveNothing() {
        for (Supplier<Linear> make : layers()) {
            Linear layer = Float8LinearTest.seeded(make);
            Linear reference = Float8LinearTest.seeded(make);
            Tensor x = Float8LinearTest.input(1);
            Tensor y;
            try (GradMode.Scope noGrad = GradMode.disabled()) {
                for (int i = 0; i < 100; i++) {
                    layer.forward(x);
                }
                y = layer.forward(x);
                assertEquals(0, layer.savedBytes(), layer.float8Plan());
            }
            assertArrayEquals(reference.forward(x).data(), y.data(), 0f, layer.float8Plan());
            assertThrows(IllegalStateException.class, () -> layer.backward(Float8LinearTest.gradOutput(2)));
            assertTrue(GradMode.isEnabled());
        }
    }

    @Test
    void discardSavedDropsEveryPendingSaveOfTheTree() {
        Sequential model = new Sequential(new Float8Linear(IN, OUT, Float8Plan.rowwise()), new Activation(Activation.Kind.GELU),
                new Linear(OUT, IN));
        model.forward(Float8LinearTest.input(1));
        model.forward(Float8LinearTest.input(2));
        model.discardSaved();
        for (Module m : model.modules()) {
            if (m instanceof Linear l) {
                assertEquals(0, l.savedBytes());
            }
        }
        assertThrows(IllegalStateException.class, () -> model.backward(Tensor.zeros(Float8LinearTest.input(1).dtype(), 2, 6, IN)));
    }

    @Test
    void theModuleNameFollowsTheTree() {
        Float8Linear layer = new Float8Linear(IN, OUT, Float8Plan.rowwise());
        layer.forward(Float8LinearTest.input(1));  // called before it was added to a model
        layer.backward(Float8LinearTest.gradOutput(2));
        Sequential model = new Sequential(new Linear(IN, IN), layer);
        Tensor x = Float8LinearTest.input(1);
        x.data()[3] = Float.NaN;
        assertEquals("1", layer.name(), model.toString());
        NonFiniteException e = assertThrows(NonFiniteException.class, () -> layer.forward(x));
        assertTrue(e.getMessage().contains("module '1'"), e.getMessage());
    }

    @Test
    void everyFp8TemporaryIsReleasedByTheEndOfTheStep() {
        for (Float8Plan plan : Float8LinearTest.plans()) {
            Recording backend = new Recording();
            Float8Linear layer = new Float8Linear(IN, OUT, plan) {
                @Override
                protected Backend backend() {
                    return backend;
                }
            };
            layer.forward(Float8LinearTest.input(1));
            layer.backward(Float8LinearTest.gradOutput(2));
            assertTrue(backend.made.size() >= 4, plan.toString());
            for (Float8Tensor q : backend.made) {
                assertTrue(q.isReleased(), plan + ": " + q + " was not released");
            }
        }
    }

    @Test
    void activationAndNormKeepTheirOwnCopyAndSurviveAWrongGradient() {
        for (Supplier<Layer> make : List.<Supplier<Layer>>of(() -> new Activation(Activation.Kind.GELU), () -> new RMSNorm(IN))) {
            Layer untouched = make.get();
            Layer layer = make.get();
            Tensor x = Float8LinearTest.input(1);
            Tensor buffer = x.copy();
            Tensor dy = Float8LinearTest.input(2);
            untouched.forward(x);
            Tensor expected = untouched.backward(dy);
            layer.forward(buffer);
            Arrays.fill(buffer.data(), 0f);
            assertThrows(IllegalArgumentException.class, () -> layer.backward(Tensor.zeros(dy.dtype(), 3, IN)));
            assertArrayEquals(expected.data(), layer.backward(dy).data(), 0f, layer.toString());
        }
    }

    /**
     * A norm that shares its input keeps a view of it, not a copy: the caller releasing x before backward does not
     * take the saved input away, and the gradients equal those of the copying forward.
     */
    @Test
    void aNormSharingItsInputSurvivesTheCallerReleasingIt() {
        RMSNorm copying = new RMSNorm(IN);
        RMSNorm sharing = new RMSNorm(IN);
        Tensor dy = Float8LinearTest.input(2);
        copying.forward(Float8LinearTest.input(1));
        Tensor expected = copying.backward(dy);
        Tensor x = Float8LinearTest.input(1);
        Tensor y;
        try (SharedInput in = SharedInput.of(x)) {
            y = sharing.forward(in);
        }
        assertArrayEquals(copying.forward(Float8LinearTest.input(1)).data(), y.data(), 0f);
        copying.discardSaved();
        Backends.current().release(x);
        assertArrayEquals(expected.data(), sharing.backward(dy).data(), 0f);
        assertArrayEquals(copying.gain().grad().data(), sharing.gain().grad().data(), 0f);
    }

    @Test
    void anEmbeddingKeepsItsSaveWhenTheGradientIsWrong() {
        Embedding embedding = new Embedding(10, 4);
        embedding.forward(new int[] {1, 2, 3});
        assertThrows(IllegalArgumentException.class, () -> embedding.backward(Tensor.zeros(Float8LinearTest.input(1).dtype(), 2, 4)));
        float[] ones = new float[12];
        Arrays.fill(ones, 1f);
        embedding.backward(Tensor.of(ones, 3, 4));
        assertEquals(1f, embedding.weight().grad().data()[4]);
    }

    /** The reference backend, remembering every FP8 tensor it makes. */
    static class Recording extends ForwardingBackend {
        final List<Float8Tensor> made = new ArrayList<>();

        Recording() {
            super(new ReferenceBackend());
        }

        @Override
        public String name() {
            return "recording";
        }

        @Override
        public Float8Tensor quantize(Tensor x, QuantSpec spec) {
            Float8Tensor q = inner.quantize(x, spec);
            made.add(q);
            return q;
        }

        @Override
        public Float8Tensor requantize(Float8Tensor q, QuantSpec spec) {
            Float8Tensor r = inner.requantize(q, spec);
            made.add(r);
            return r;
        }
    }
}
