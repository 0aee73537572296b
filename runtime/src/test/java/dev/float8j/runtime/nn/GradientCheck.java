package dev.float8j.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.Tensor;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;
import java.util.function.Supplier;

/**
 * Central finite differences of the scalar L = Σ y·r (r a fixed random tensor), so dL/dy = r, checked
 * against a layer's backward for its input and every parameter.
 */
public final class GradientCheck {
    private GradientCheck() {
    }

    public static Tensor random(long seed, float scale, int... shape) {
        SplittableRandom random = new SplittableRandom(seed);
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) ((random.nextDouble() * 2 - 1) * scale);
        }
        return Tensor.of(v, shape);
    }

    private static double objective(Layer layer, Tensor x, Tensor r) {
        Tensor y = layer.forward(x);
        layer.backward(Tensor.zeros(y.dtype(), y.shape())); // keep the saved state balanced
        double sum = 0;
        for (int i = 0; i < y.size(); i++) {
            sum += (double) y.getFlat(i) * r.getFlat(i);
        }
        return sum;
    }

    /**
     * Checks dL/dx and dL/dθ of layer (a Module) at x; the error of each entry must be within
     * tolerance·(|numeric| + scale of the gradient).
     */
    public static void check(Supplier<String> what, Layer layer, Tensor x, double h, double tolerance) {
        Module module = (Module) layer;
        Tensor y = layer.forward(x);
        Tensor r = random(99, 1f, y.shape());
        module.zeroGrad();
        Tensor dx = layer.backward(r);
        java.util.List<float[]> analytic = module.parameters().stream().map(p -> p.grad().toFloatArray()).toList();
        module.zeroGrad();
        compare(what.get() + " input", dx.toFloatArray(), x.data(), () -> objective(layer, x, r), h, tolerance);
        for (int i = 0; i < analytic.size(); i++) {
            Parameter p = module.parameters().get(i);
            compare(what.get() + " " + p.name(), analytic.get(i), p.value().data(), () -> objective(layer, x, r), h, tolerance);
        }
    }

    /**
     * Compares analytic, the gradient of f with respect to values, with central differences: values is perturbed in
     * place (and restored), so f must read it. The error of each entry must be within
     * tolerance·(|numeric| + the largest |analytic|).
     */
    public static void compare(String what, float[] analytic, float[] values, DoubleSupplier f, double h, double tolerance) {
        compare(what, analytic, values, f, h, tolerance, values.length);
    }

    /** {@link #compare} on at most maxEntries entries spread evenly over values, first and last included. */
    public static void compare(String what, float[] analytic, float[] values, DoubleSupplier f, double h, double tolerance,
            int maxEntries) {
        double maxAbs = 0;
        for (float a : analytic) {
            maxAbs = Math.max(maxAbs, Math.abs(a));
        }
        int checked = Math.min(maxEntries, values.length);
        for (int n = 0; n < checked; n++) {
            int i = checked == 1 ? 0 : (int) ((long) n * (values.length - 1) / (checked - 1));
            float saved = values[i];
            values[i] = (float) (saved + h);
            double plus = f.getAsDouble();
            values[i] = (float) (saved - h);
            double minus = f.getAsDouble();
            values[i] = saved;
            double numeric = (plus - minus) / (2 * h);
            double err = Math.abs(numeric - analytic[i]);
            assertTrue(err <= tolerance * (Math.abs(numeric) + maxAbs), what + "[" + i + "]: analytic " + analytic[i]
                    + " numeric " + numeric);
        }
    }
}
