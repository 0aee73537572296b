package dev.float8j.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Float8Plan;
import dev.float8j.runtime.BFloat16;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.cpu.CpuBackend;
import dev.float8j.runtime.quant.NonFiniteException;
import dev.float8j.runtime.train.Checkpoint;
import dev.float8j.runtime.train.Sgd;
import dev.float8j.runtime.train.Weights;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Linear with a bias, for the high-precision plan and every FP8 plan, on the reference and the CPU backend: y is the
 * same layer's y without bias plus b, added in F32 before the one rounding to BF16; grad_bias is the column sums of
 * dY in F32 (and matches finite differences); dX and dW are untouched by the bias; the bias travels through
 * checkpoints, weights files and conversion.
 */
class LinearBiasTest {
    static final int IN = 40;
    static final int OUT = 24;
    static final int ROWS = 6;
    static final long SEED = 7;

    @TempDir
    Path dir;

    private final Backend before = Backends.current();

    @AfterEach
    void restoreBackend() {
        Backends.use(before);
    }

    static List<Float8Plan> plans() {
        List<Float8Plan> plans = new ArrayList<>(Float8LinearTest.plans());
        plans.add(0, Float8Plan.highPrecision());
        return plans;
    }

    static List<Backend> backends() {
        return List.of(new ReferenceBackend(), new CpuBackend(2));
    }

    /** A layer of plan made right after Init.seed(SEED): layers with and without bias then share W. */
    static Linear layer(Float8Plan plan, boolean bias) {
        Init.seed(SEED);
        return new Float8Linear(IN, OUT, plan, bias);
    }

    static Tensor gradOutput() {
        return Float8LinearTest.gradOutput(2);
    }

    /** The column sums of g (rows x OUT) in F32, row by row, written out here. */
    static float[] columnSums(Tensor g) {
        float[] sums = new float[g.cols()];
        for (int r = 0; r < g.rows(); r++) {
            for (int c = 0; c < g.cols(); c++) {
                sums[c] += g.get(r, c);
            }
        }
        return sums;
    }

    @Test
    void biasIsAnF32ParameterOfShapeOneByOutRegisteredAsBias() {
        Linear layer = new Linear(IN, OUT, true);
        assertArrayEquals(new int[] {1, OUT}, layer.bias().value().shape());
        assertEquals(DType.F32, layer.bias().value().dtype());
        assertEquals(DType.F32, layer.bias().grad().dtype());
        assertEquals(List.of("weight", "bias"), List.copyOf(layer.namedParameters().keySet()));
        float bound = (float) (1 / Math.sqrt(IN));
        for (float v : layer.bias().value().data()) {
            assertTrue(Math.abs(v) <= bound, "bias drawn in ±1/sqrt(in): " + v);
        }
        Linear plain = new Linear(IN, OUT);
        assertNull(plain.bias());
        assertEquals(List.of("weight"), List.copyOf(plain.namedParameters().keySet()));
    }

    @Test
    void f32OutputIsTheOutputWithoutBiasPlusBForEveryPlanAndBackend() {
        Tensor x = Float8LinearTest.input(1);
        for (Backend backend : backends()) {
            Backends.use(backend);
            for (Float8Plan plan : plans()) {
                float[] withoutBias = layer(plan, false).forward(x).data();
                Linear biased = layer(plan, true);
                float[] b = biased.bias().value().data();
                float[] expected = new float[withoutBias.length];
                for (int i = 0; i < expected.length; i++) {
                    expected[i] = withoutBias[i] + b[i % OUT];
                }
                assertArrayEquals(expected, biased.forward(x).data(), backend.name() + " " + plan);
            }
        }
    }

    /** BF16 activations: the F32 sum plus b, rounded to BF16 once (not the BF16 y plus b, rounded again). */
    @Test
    void bf16OutputRoundsTheF32SumPlusBiasOnceForEveryPlanAndBackend() {
        Tensor x = Float8LinearTest.input(1);
        Tensor x16 = x.to(DType.BF16);
        Tensor sameValuesInF32 = x16.to(DType.F32);
        for (Backend backend : backends()) {
            Backends.use(backend);
            for (Float8Plan plan : plans()) {
                float[] sum = layer(plan, false).forward(sameValuesInF32).data();
                Linear biased = layer(plan, true);
                float[] b = biased.bias().value().data();
                Tensor y = biased.forward(x16);
                assertEquals(DType.BF16, y.dtype());
                for (int i = 0; i < sum.length; i++) {
                    assertEquals(BFloat16.round(sum[i] + b[i % OUT]), y.getFlat(i), backend.name() + " " + plan + " at " + i);
                }
            }
        }
    }

    @Test
    void gradBiasIsTheColumnSumsOfDyAndLeavesDxAndDwAsWithoutBias() {
        Tensor x = Float8LinearTest.input(1);
        Tensor dy = gradOutput();
        float[] expected = columnSums(dy);
        for (Backend backend : backends()) {
            Backends.use(backend);
            for (Float8Plan plan : plans()) {
                Linear plain = layer(plan, false);
                plain.forward(x);
                float[] dxPlain = plain.backward(dy).data();
                Linear biased = layer(plan, true);
                biased.forward(x);
                biased.forward(x);
                float[] dx = biased.backward(dy).data();
                assertArrayEquals(dxPlain, dx, backend.name() + " " + plan + " dX");
                assertArrayEquals(plain.weight().grad().data(), biased.weight().grad().data(), plan + " dW");
                assertArrayEquals(expected, biased.bias().grad().data(), backend.name() + " " + plan + " grad_bias");
                biased.backward(dy);
                float[] twice = new float[OUT];
                for (int j = 0; j < OUT; j++) {
                    twice[j] = expected[j] + expected[j];
                }
                assertArrayEquals(twice, biased.bias().grad().data(), plan + ": the second backward accumulates");
            }
        }
    }

    /** For L = sum(y * G): central differences of L in each b_j against every plan's grad_bias. */
    @Test
    void gradBiasMatchesFiniteDifferences() {
        Tensor x = Float8LinearTest.input(1);
        Tensor g = gradOutput();
        Linear hp = layer(Float8Plan.highPrecision(), true);
        float[] b = hp.bias().value().data();
        double[] finite = new double[OUT];
        try (GradMode.Scope off = GradMode.disabled()) {
            for (int j = 0; j < OUT; j++) {
                float original = b[j];
                float h = 1e-2f;
                b[j] = original + h;
                double plus = objective(hp.forward(x), g);
                b[j] = original - h;
                double minus = objective(hp.forward(x), g);
                b[j] = original;
                finite[j] = (plus - minus) / ((double) (original + h) - (double) (original - h));
            }
        }
        for (Backend backend : backends()) {
            Backends.use(backend);
            for (Float8Plan plan : plans()) {
                Linear layer = layer(plan, true);
                layer.forward(x);
                layer.backward(g);
                float[] grad = layer.bias().grad().data();
                for (int j = 0; j < OUT; j++) {
                    double tolerance = 2e-3 * Math.max(1, Math.abs(finite[j]));
                    assertEquals(finite[j], grad[j], tolerance, backend.name() + " " + plan + " db[" + j + "]");
                }
            }
        }
    }

    private static double objective(Tensor y, Tensor g) {
        double sum = 0;
        for (int i = 0; i < y.size(); i++) {
            sum += (double) y.getFlat(i) * g.getFlat(i);
        }
        return sum;
    }

    @Test
    void aFailedBackwardLeavesTheBiasGradientAndTheSaveAsTheyWere() {
        Tensor x = Float8LinearTest.input(1);
        Linear layer = layer(Float8Plan.rowwise(), true);
        layer.forward(x);
        long saved = layer.savedBytes();
        float[] bad = gradOutput().data().clone();
        bad[5] = Float.NaN;
        assertThrows(NonFiniteException.class, () -> layer.backward(Tensor.of(bad, 2, ROWS, OUT)));
        assertArrayEquals(new float[OUT], layer.bias().grad().data(), "grad_bias untouched");
        assertEquals(saved, layer.savedBytes(), "save kept");
        layer.backward(gradOutput());
        assertArrayEquals(columnSums(gradOutput()), layer.bias().grad().data(), "the retry succeeds");
    }

    @Test
    void noGradForwardWithBiasSavesNothing() {
        Linear layer = layer(Float8Plan.tensorwise(), true);
        try (GradMode.Scope off = GradMode.disabled()) {
            layer.forward(Float8LinearTest.input(1));
        }
        assertEquals(0, layer.savedBytes());
        assertThrows(IllegalStateException.class, () -> layer.backward(gradOutput()));
    }

    @Test
    void aBiasThatIsNotF32OfNElementsIsRefusedByEveryBackend() {
        Tensor x = Tensor.of(new float[IN * 2], 2, IN);
        Tensor w = Tensor.of(new float[OUT * IN], OUT, IN);
        for (Backend backend : backends()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> backend.matmul(x, 1, w, 1, Tensor.of(new float[OUT - 1], 1, OUT - 1), DType.F32));
            assertTrue(e.getMessage().contains(OUT + " output columns"), e.getMessage());
        }
    }

    @Test
    void weightsFileAndCheckpointCarryTheBias() throws IOException {
        Sequential trained = new Sequential(layer(Float8Plan.rowwise(), true), new Linear(OUT, 3, true));
        Path weights = dir.resolve("w.safetensors");
        Weights.save(trained, weights);
        Init.seed(99);
        Sequential highPrecision = new Sequential(new Linear(IN, OUT, true), new Linear(OUT, 3, true));
        Weights.load(highPrecision, weights);
        assertEquals(List.of("0.weight", "0.bias", "1.weight", "1.bias"),
                List.copyOf(highPrecision.namedParameters().keySet()));
        for (Map.Entry<String, Parameter> p : trained.namedParameters().entrySet()) {
            assertArrayEquals(p.getValue().value().data(), highPrecision.namedParameters().get(p.getKey()).value().data(),
                    p.getKey());
        }
        Sequential withoutBias = new Sequential(new Linear(IN, OUT), new Linear(OUT, 3));
        assertThrows(dev.float8j.runtime.train.CheckpointException.class, () -> Weights.load(withoutBias, weights));

        Path checkpoint = dir.resolve("c.ckpt");
        Sgd sgd = new Sgd(trained.parameters(), 0.1, 0.9, 0);
        Checkpoint.save(checkpoint, trained, sgd, 3, Map.of());
        Init.seed(98);
        Sequential restored = new Sequential(layer(Float8Plan.rowwise(), true), new Linear(OUT, 3, true));
        Checkpoint.load(checkpoint, restored, new Sgd(restored.parameters(), 0.1, 0.9, 0));
        assertArrayEquals(((Linear) trained.get(0)).bias().value().data(),
                ((Linear) restored.get(0)).bias().value().data(), "bias restored");
    }

    @Test
    void conversionKeepsTheBiasTensorsAndItsF32() {
        Init.seed(SEED);
        Sequential net = new Sequential(new Linear(IN, OUT, true), new Linear(OUT, 3));
        Linear before = (Linear) net.get(0);
        Tensor biasValue = before.bias().value();
        Tensor biasGrad = before.bias().grad();
        float[] values = biasValue.data().clone();
        Float8Training.convert(net, Float8Plan.rowwise(), (name, l) -> true);
        Linear after = (Linear) net.get(0);
        assertTrue(after instanceof Float8Linear && after.hasBias());
        assertTrue(after.bias().value() == biasValue && after.bias().grad() == biasGrad, "the same tensors");
        assertArrayEquals(values, after.bias().value().data());
        assertNull(((Linear) net.get(1)).bias(), "a layer without bias stays without");
        assertEquals(List.of("0.weight", "0.bias", "1.weight"), List.copyOf(net.namedParameters().keySet()));
    }
}
