package dev.float8j.processor;

import static com.google.testing.compile.CompilationSubject.assertThat;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.testing.compile.Compilation;
import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Gemm;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.debug.Float8Debug;
import dev.float8j.runtime.debug.QuantizationObserver;
import dev.float8j.runtime.debug.Site;
import dev.float8j.runtime.nn.Float8Layers;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.Module;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The generated classes compile, run, agree bit for bit with the generic Float8Linear on the same plan
 * (reference backend), and their gradients match finite differences of the high-precision layer within FP8 error.
 */
class GeneratedLayerTest {
    static final int IN = 160; // more than one 128 block, with a partial last one
    static final int OUT = 136;
    static final int BATCH = 2;
    static final int SEQ = 9;
    static final long WEIGHT_SEED = 11;

    static ClassLoader loader;

    @BeforeAll
    static void compileGoldenInputs() {
        List<javax.tools.JavaFileObject> sources = new ArrayList<>();
        for (String name : GoldenSourceTest.CASES) {
            sources.add(Compiled.golden(name));
        }
        Compilation compilation = Compiled.compile(sources.toArray(javax.tools.JavaFileObject[]::new));
        assertThat(compilation).succeededWithoutWarnings();
        loader = Compiled.loader(compilation);
    }

    @AfterEach
    void reset() {
        Float8Debug.clearSwitches();
        Float8Debug.observe(null);
    }

    /** A parent module, so that layers get a dotted fully qualified name. */
    static final class Block extends Module {
        <M extends Module> M add(String name, M module) {
            return child(name, module);
        }
    }

    static Linear generated(String name) {
        try {
            Class<?> type = loader.loadClass("golden." + name + "Float8");
            Init.seed(WEIGHT_SEED);
            Linear layer = (Linear) type.getConstructor(int.class, int.class).newInstance(IN, OUT);
            return new Block().add("up", layer);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    static Float8Plan plan(Linear generated) {
        try {
            return (Float8Plan) generated.getClass().getField("PLAN").get(null);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    static Float8Linear generic(Float8Plan plan) {
        Init.seed(WEIGHT_SEED);
        return new Block().add("up", new Float8Linear(IN, OUT, plan));
    }

    static Tensor normal(long seed, float std, int... shape) {
        SplittableRandom r = new SplittableRandom(seed);
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            // a few large rows, as activations have
            v[i] = (float) (r.nextGaussian() * std * (i / shape[shape.length - 1] % 5 == 0 ? 8 : 1));
        }
        return Tensor.of(v, shape);
    }

    /** Records the site of every quantization. */
    static final class Sites implements QuantizationObserver {
        final List<String> seen = new ArrayList<>();

        @Override
        public boolean wants(Site site, long step) {
            return true;
        }

        @Override
        public void observe(Site site, long step, Tensor highPrecision, Float8Tensor quantized, Backend backend) {
            seen.add(site + " " + quantized);
        }
    }

    record Run(float[] y1, float[] y2, float[] dx2, float[] dx1, float[] dw, long savedAfterForward, List<String> sites) {
    }

    /** Two forwards and two backwards (LIFO), as a layer used twice in one step. */
    static Run run(Linear layer) {
        Sites sites = new Sites();
        Float8Debug.observe(sites);
        Tensor x1 = normal(1, 1f, BATCH, SEQ, IN);
        Tensor x2 = normal(2, 0.5f, BATCH, SEQ, IN);
        float[] y1 = layer.forward(x1).data();
        float[] y2 = layer.forward(x2).data();
        long saved = layer.savedBytes();
        float[] dx2 = layer.backward(normal(3, 1e-3f, BATCH, SEQ, OUT)).data();
        float[] dx1 = layer.backward(normal(4, 1e-3f, BATCH, SEQ, OUT)).data();
        Float8Debug.observe(null);
        assertEquals(0, layer.savedBytes(), "nothing left saved after the matching backwards");
        return new Run(y1, y2, dx2, dx1, layer.weight().grad().data(), saved, sites.seen);
    }

    static void assertSameRun(Run generic, Run generated, String what) {
        assertArrayEquals(generic.y1(), generated.y1(), what + ": first output");
        assertArrayEquals(generic.y2(), generated.y2(), what + ": second output");
        assertArrayEquals(generic.dx2(), generated.dx2(), what + ": grad_input of the second call");
        assertArrayEquals(generic.dx1(), generated.dx1(), what + ": grad_input of the first call");
        assertArrayEquals(generic.dw(), generated.dw(), what + ": grad_weight");
        assertEquals(generic.savedAfterForward(), generated.savedAfterForward(), what + ": saved bytes");
        assertEquals(generic.sites(), generated.sites(), what + ": quantization sites");
    }

    @Test
    void generatedAndGenericAreBitIdentical() {
        for (String name : GoldenSourceTest.CASES) {
            Linear generated = generated(name);
            Run expected = run(generic(plan(generated)));
            Run actual = run(generated);
            assertSameRun(expected, actual, name);
            assertTrue(!actual.sites().isEmpty() && actual.sites().stream().allMatch(site -> site.startsWith("up/")),
                    name + ": " + actual.sites());
        }
    }

    /**
     * A layer whose annotated class has the (int, int, boolean bias) constructor: made by Float8Layers.create with a
     * bias, its outputs and all three gradients (bias included) equal Float8Linear's with a bias bit for bit.
     */
    @Test
    void generatedWithBiasAndGenericWithBiasAreBitIdentical() throws ReflectiveOperationException {
        Class<? extends Linear> annotated = loader.loadClass("golden.RowwiseBias").asSubclass(Linear.class);
        Init.seed(WEIGHT_SEED);
        Linear generated = new Block().add("up", Float8Layers.create(annotated, IN, OUT, true));
        assertTrue(generated.hasBias());
        Init.seed(WEIGHT_SEED);
        Float8Linear generic = new Block().add("up", new Float8Linear(IN, OUT, plan(generated), true));
        assertArrayEquals(generic.bias().value().data(), generated.bias().value().data(), "same initial bias");
        Run expected = run(generic);
        Run actual = run(generated);
        assertSameRun(expected, actual, "RowwiseBias");
        assertArrayEquals(generic.bias().grad().data(), generated.bias().grad().data(), "grad_bias");
        assertTrue(java.util.Arrays.stream(toDouble(actual.y1())).anyMatch(v -> v != 0));

        Init.seed(WEIGHT_SEED);
        Linear withoutBias = Float8Layers.create(annotated, IN, OUT);
        assertTrue(!withoutBias.hasBias() && withoutBias.bias() == null, "the (int, int) constructor gives no bias");
    }

    @Test
    void askingForABiasOfALayerWithoutTheConstructorNamesIt() throws ReflectiveOperationException {
        Class<? extends Linear> annotated = loader.loadClass("golden.Rowwise").asSubclass(Linear.class);
        IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                () -> Float8Layers.create(annotated, IN, OUT, true));
        assertTrue(e.getMessage().contains("(int inFeatures, int outFeatures, boolean bias)"), e.getMessage());
    }

    private static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }

    @Test
    void generatedAndGenericAgreeWithGemmsSwitchedOff() {
        for (Gemm off : Gemm.values()) {
            Float8Debug.clearSwitches();
            Float8Debug.switchOff("up", off);
            for (String name : GoldenSourceTest.CASES) {
                Linear generated = generated(name);
                assertSameRun(run(generic(plan(generated))), run(generated), name + " with " + off + " off");
            }
        }
    }

    @Test
    void everythingSwitchedOffIsTheHighPrecisionLayer() {
        Float8Debug.switchOff("*", null);
        Init.seed(WEIGHT_SEED);
        Run highPrecision = run(new Block().add("up", new Linear(IN, OUT)));
        for (String name : GoldenSourceTest.CASES) {
            Run fp8 = run(generated(name));
            assertArrayEquals(highPrecision.y1(), fp8.y1(), name);
            assertArrayEquals(highPrecision.dx1(), fp8.dx1(), name);
            assertArrayEquals(highPrecision.dw(), fp8.dw(), name);
            assertTrue(fp8.sites().isEmpty(), name + " quantized " + fp8.sites());
        }
    }

    /**
     * For the loss L = sum(y * G), central differences of the high-precision layer give dL/dx and dL/dW at
     * sampled coordinates; the FP8 layer's backward must agree within FP8 error.
     */
    @Test
    void gradientsMatchFiniteDifferencesOfTheHighPrecisionLayer() {
        Tensor x = normal(5, 1f, BATCH, SEQ, IN);
        Tensor g = normal(6, 1f, BATCH, SEQ, OUT);
        Init.seed(WEIGHT_SEED);
        Linear highPrecision = new Linear(IN, OUT);
        SplittableRandom pick = new SplittableRandom(7);
        int samples = 48;
        int[] xAt = new int[samples];
        int[] wAt = new int[samples];
        double[] xFiniteDifference = new double[samples];
        double[] wFiniteDifference = new double[samples];
        for (int s = 0; s < samples; s++) {
            xAt[s] = pick.nextInt(x.size());
            wAt[s] = pick.nextInt(IN * OUT);
            xFiniteDifference[s] = centralDifference(highPrecision, x, g, x.data(), xAt[s]);
            wFiniteDifference[s] = centralDifference(highPrecision, x, g, highPrecision.weight().value().data(), wAt[s]);
        }
        for (String name : GoldenSourceTest.CASES) {
            Linear fp8 = generated(name);
            fp8.forward(x);
            float[] dx = fp8.backward(g).data();
            float[] dw = fp8.weight().grad().data();
            double xError = relativeError(xFiniteDifference, dx, xAt);
            double wError = relativeError(wFiniteDifference, dw, wAt);
            assertTrue(xError < 0.1, name + ": grad_input relative error " + xError);
            assertTrue(wError < 0.1, name + ": grad_weight relative error " + wError);
        }
    }

    private static double centralDifference(Linear layer, Tensor x, Tensor g, float[] variable, int at) {
        float original = variable[at];
        float h = 1e-2f * Math.max(1f, Math.abs(original));
        variable[at] = original + h;
        double plus = loss(layer, x, g);
        variable[at] = original - h;
        double minus = loss(layer, x, g);
        variable[at] = original;
        return (plus - minus) / ((double) (original + h) - (double) (original - h));
    }

    private static double loss(Linear layer, Tensor x, Tensor g) {
        float[] y = layer.forward(x).data();
        layer.backward(g); // keep the layer's saves balanced; its gradients are not used
        double sum = 0;
        for (int i = 0; i < y.length; i++) {
            sum += (double) y[i] * g.getFlat(i);
        }
        return sum;
    }

    private static double relativeError(double[] expected, float[] actual, int[] at) {
        double diff = 0;
        double norm = 0;
        for (int s = 0; s < at.length; s++) {
            double d = expected[s] - actual[at[s]];
            diff += d * d;
            norm += expected[s] * expected[s];
        }
        return Math.sqrt(diff / norm);
    }
}
