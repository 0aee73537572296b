package dev.float8j.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class LayerGradientTest {

    @Test
    void linearGradientsMatchFiniteDifferences() {
        Init.seed(1);
        GradientCheck.check(() -> "Linear", new Linear(5, 3), GradientCheck.random(2, 1f, 4, 5), 1e-2, 1e-2);
    }

    @Test
    void rmsNormGradientsMatchFiniteDifferences() {
        RMSNorm norm = new RMSNorm(6);
        float[] g = norm.gain().value().data();
        for (int i = 0; i < g.length; i++) {
            g[i] = 0.5f + 0.25f * i; // a gain other than one, so its gradient path is exercised
        }
        GradientCheck.check(() -> "RMSNorm", norm, GradientCheck.random(3, 2f, 3, 6), 1e-2, 2e-2);
    }

    /** a + b element by element, in F32. */
    private static float[] elementSum(Tensor a, Tensor b) {
        float[] sum = new float[a.size()];
        for (int i = 0; i < sum.length; i++) {
            sum[i] = a.getFlat(i) + b.getFlat(i);
        }
        return sum;
    }

    @Test
    void rmsNormTakesItsGradientAsPartsAndKeepsItsSaveWhenRefused() {
        Tensor x = GradientCheck.random(3, 2f, 3, 6);
        Tensor a = GradientCheck.random(4, 1f, 3, 6);
        Tensor b = GradientCheck.random(5, 1f, 3, 6);
        Tensor residual = GradientCheck.random(6, 1f, 3, 6);
        RMSNorm whole = new RMSNorm(6);
        whole.forward(x);
        Tensor expected = whole.backward(Tensor.of(elementSum(a, b), 3, 6), residual);

        RMSNorm parted = new RMSNorm(6);
        parted.forward(x);
        // refused before anything changes: no parts, too many, parts of two dtypes or of another size
        for (java.util.List<Tensor> bad : List.of(List.<Tensor>of(), List.of(a, a, a, a),
                List.of(a, b.to(DType.BF16)), List.of(a, GradientCheck.random(7, 1f, 2, 6)))) {
            assertThrows(IllegalArgumentException.class, () -> parted.backward(bad, residual));
        }
        Tensor actual = parted.backward(List.of(a, b), residual);
        assertEquals(Arrays.toString(expected.toFloatArray()), Arrays.toString(actual.toFloatArray()));
        assertEquals(Arrays.toString(whole.gain().grad().toFloatArray()),
                Arrays.toString(parted.gain().grad().toFloatArray()));
    }

    @Test
    void rmsNormForwardAddingIsTheNormOfTheSumAndKeepsNoSaveWhenRefused() {
        Tensor stream = GradientCheck.random(3, 2f, 3, 6);
        Tensor branch = GradientCheck.random(4, 1f, 3, 6);
        Tensor dY = GradientCheck.random(5, 1f, 3, 6);
        float[] sum = elementSum(stream, branch);
        RMSNorm apart = new RMSNorm(6);
        Tensor expectedY = apart.forward(Tensor.of(sum, 3, 6));
        Tensor expectedDX = apart.backward(dY);

        RMSNorm fused = new RMSNorm(6);
        // refused before anything is saved: a branch of another shape
        assertThrows(IllegalArgumentException.class,
                () -> fused.forwardAdding(stream, GradientCheck.random(6, 1f, 2, 6)));
        assertThrows(IllegalStateException.class, () -> fused.backward(dY));
        RMSNorm.SumAndNorm out = fused.forwardAdding(stream, branch);
        assertEquals(Arrays.toString(sum), Arrays.toString(out.sum().toFloatArray()));
        assertEquals(Arrays.toString(expectedY.toFloatArray()), Arrays.toString(out.y().toFloatArray()));
        assertEquals(Arrays.toString(expectedDX.toFloatArray()), Arrays.toString(fused.backward(dY).toFloatArray()));
        assertEquals(Arrays.toString(apart.gain().grad().toFloatArray()),
                Arrays.toString(fused.gain().grad().toFloatArray()));
    }

    @ParameterizedTest
    @EnumSource(Activation.Kind.class)
    void activationGradientsMatchFiniteDifferences(Activation.Kind kind) {
        // keep inputs away from ReLU's kink at zero, where finite differences are undefined
        Tensor x = GradientCheck.random(4, 3f, 4, 5);
        float[] v = x.data();
        for (int i = 0; i < v.length; i++) {
            if (Math.abs(v[i]) < 0.05f) {
                v[i] = 0.5f;
            }
        }
        GradientCheck.check(kind::name, new Activation(kind), x, 1e-2, 1e-2);
    }

    @Test
    void activationsComputeTheirFunctions() {
        Tensor x = Tensor.of(new float[] {-2f, -0.5f, 0f, 1.5f}, 1, 4);
        float[] relu = new Activation(Activation.Kind.RELU).forward(x).data();
        float[] silu = new Activation(Activation.Kind.SILU).forward(x).data();
        float[] gelu = new Activation(Activation.Kind.GELU).forward(x).data();
        for (int i = 0; i < 4; i++) {
            double v = x.data()[i];
            assertEquals(Math.max(v, 0), relu[i], 0);
            assertEquals(v / (1 + Math.exp(-v)), silu[i], 1e-6);
            // the tanh form stays within 1e-3 of the exact x·Φ(x)
            double phi = 0.5 * (1 + erf(v / Math.sqrt(2)));
            assertEquals(v * phi, gelu[i], 1e-3);
        }
    }

    private static double erf(double z) {
        // Abramowitz and Stegun 7.1.26, |error| < 1.5e-7
        double t = 1 / (1 + 0.3275911 * Math.abs(z));
        double y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
                * Math.exp(-z * z);
        return Math.signum(z) * y;
    }

    @Test
    void sequentialChainsLayersAndNamesChildren() {
        Init.seed(5);
        Sequential seq = new Sequential(new Linear(4, 6), new Activation(Activation.Kind.GELU), new Linear(6, 2));
        GradientCheck.check(() -> "Sequential", seq, GradientCheck.random(6, 1f, 3, 4), 1e-2, 2e-2);
        assertEquals(List.of("0.weight", "2.weight"), List.copyOf(seq.namedParameters().keySet()));
    }

    @Test
    void embeddingScattersGradientsToTheRowsLookedUp() {
        Init.seed(7);
        Embedding e = new Embedding(5, 3);
        int[] tokens = {4, 1, 4};
        Tensor y = e.forward(tokens);
        for (int c = 0; c < 3; c++) {
            assertEquals(e.weight().value().get(4, c), y.get(0, c));
            assertEquals(e.weight().value().get(1, c), y.get(1, c));
        }
        Tensor g = GradientCheck.random(8, 1f, 3, 3);
        e.backward(g);
        for (int c = 0; c < 3; c++) {
            assertEquals(g.get(0, c) + g.get(2, c), e.weight().grad().get(4, c), 0);
            assertEquals(g.get(1, c), e.weight().grad().get(1, c), 0);
            assertEquals(0f, e.weight().grad().get(0, c));
        }
    }

    @Test
    void badInputsGetClearErrors() {
        Init.seed(1);
        Linear linear = new Linear(4, 2);
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                () -> linear.forward(Tensor.zeros(dev.float8j.runtime.DType.F32, 3, 5)));
        assertTrue(shape.getMessage().contains("[3, 5]") && shape.getMessage().contains("inFeatures=4"), shape.getMessage());
        Embedding e = new Embedding(10, 2);
        IllegalArgumentException token = assertThrows(IllegalArgumentException.class, () -> e.forward(new int[] {3, 10}));
        assertTrue(token.getMessage().contains("token 10"), token.getMessage());
        assertThrows(IllegalStateException.class, () -> new RMSNorm(3).backward(Tensor.zeros(dev.float8j.runtime.DType.F32, 1, 3)));
        assertThrows(IllegalArgumentException.class, () -> new RMSNorm(3).forward(Tensor.zeros(dev.float8j.runtime.DType.F32, 1, 4)));
    }

    @Test
    void linearReportsItsPlanAndSavedBytes() {
        Init.seed(1);
        Linear linear = new Linear(8, 4);
        assertEquals("high precision", linear.float8Plan());
        linear.forward(Tensor.zeros(dev.float8j.runtime.DType.F32, 3, 8));
        assertEquals(3 * 8 * 4, linear.savedBytes());
        linear.backward(Tensor.zeros(dev.float8j.runtime.DType.F32, 3, 4));
        assertEquals(0, linear.savedBytes());
    }
}
