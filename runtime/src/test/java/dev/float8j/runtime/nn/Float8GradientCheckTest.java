package dev.float8j.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.annotations.Backward;
import dev.float8j.plan.Float8Plan;
import dev.float8j.runtime.Tensor;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Each FP8 plan's gradients against central finite differences of the high-precision layer with the same
 * weights, for the objective L = Σ y·r. FP8 (3 mantissa bits, relative step 2^-4 at worst) gives gradients within a
 * few percent; the bound is on the relative L2 error of the whole gradient.
 */
class Float8GradientCheckTest {
    static final double TOLERANCE = 0.08;

    static List<Float8Plan> plans() {
        return List.of(Float8Plan.tensorwise(), Float8Plan.rowwise(), Float8Plan.rowwise().withBackward(Backward.REQUANTIZE),
                Float8Plan.rowwise().withBackward(Backward.BOTH_AXES), Float8Plan.rowwiseGradWeightHighPrecision(),
                Float8Plan.blockwise(), Float8Plan.mx());
    }

    @ParameterizedTest
    @MethodSource("plans")
    void gradientsMatchFiniteDifferencesOfTheHighPrecisionLayer(Float8Plan plan) {
        int in = 48;
        int out = 20;
        Init.seed(3);
        Linear hp = new Linear(in, out);
        Init.seed(3);
        Float8Linear fp8 = new Float8Linear(in, out, plan);
        Tensor x = GradientCheck.random(4, 1f, 6, in);
        Tensor r = GradientCheck.random(5, 1f, 6, out);

        fp8.forward(x);
        Tensor dx = fp8.backward(r);
        float[] numericInput = finiteDifferences(hp, x, r, x.data());
        float[] numericWeight = finiteDifferences(hp, x, r, hp.weight().value().data());
        assertRelativeError(numericInput, dx.toFloatArray(), plan + " grad_input");
        assertRelativeError(numericWeight, fp8.weight().grad().toFloatArray(), plan + " grad_weight");
    }

    private static float[] finiteDifferences(Linear hp, Tensor x, Tensor r, float[] values) {
        float[] out = new float[values.length];
        double h = 1e-2;
        for (int i = 0; i < values.length; i++) {
            float saved = values[i];
            values[i] = (float) (saved + h);
            double plus = objective(hp, x, r);
            values[i] = (float) (saved - h);
            double minus = objective(hp, x, r);
            values[i] = saved;
            out[i] = (float) ((plus - minus) / (2 * h));
        }
        return out;
    }

    private static double objective(Linear hp, Tensor x, Tensor r) {
        Tensor y = hp.forward(x);
        hp.backward(Tensor.zeros(y.dtype(), y.shape()));
        double sum = 0;
        for (int i = 0; i < y.size(); i++) {
            sum += (double) y.getFlat(i) * r.getFlat(i);
        }
        return sum;
    }

    private static void assertRelativeError(float[] expected, float[] actual, String what) {
        double err = 0;
        double norm = 0;
        for (int i = 0; i < expected.length; i++) {
            err += Math.pow(expected[i] - actual[i], 2);
            norm += Math.pow(expected[i], 2);
        }
        double relative = Math.sqrt(err / norm);
        assertTrue(relative < TOLERANCE, what + ": relative L2 error " + relative);
    }
}
