package dev.float8j.benchmarks;

import dev.float8j.benchmarks.layers.RowwiseRequantize;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.nn.Float8Layers;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import java.util.Arrays;
import java.util.function.Supplier;

/**
 * Does specializing a layer at compile time pay? Times forward + backward of the processor's class for
 * {@link RowwiseRequantize} against {@link Float8Linear} with the same plan, side by side in one run on the
 * current backend (or the one named on the command line): a tiny layer, where per-call overhead dominates, and a larger one, end to end. The
 * high-precision {@link Linear} runs alongside for scale.
 * Each round times all three layers, in alternating order, so that drift affects all; the median round is reported.
 */
public final class GeneratedVsGeneric {
    private GeneratedVsGeneric() {
    }

    /** args: optionally the class name of the backend to time, with a public no-argument constructor. */
    public static void main(String[] args) throws ReflectiveOperationException {
        if (args.length > 0) {
            Backends.use((Backend) Class.forName(args[0]).getConstructor().newInstance());
        }
        System.out.printf("backend %s, plan %s%n", Backends.current().name(), Float8Layers.plan(RowwiseRequantize.class));
        compare("tiny layer, per call", 16, 16, 4, 20_000, 7);
        compare("larger layer, end to end", 512, 512, 128, 2, 7);
    }

    private static void compare(String what, int in, int out, int rows, int callsPerRound, int rounds) {
        Linear generated = seeded(() -> Float8Layers.create(RowwiseRequantize.class, in, out));
        Linear generic = seeded(() -> new Float8Linear(in, out, Float8Layers.plan(RowwiseRequantize.class)));
        Linear highPrecision = seeded(() -> new Linear(in, out));
        Tensor x = Tensor.of(Init.normal(rows * in, 1f), rows, in);
        Tensor dy = Tensor.of(Init.normal(rows * out, 1e-3f), rows, out);
        // warm up both before timing either
        time(generated, x, dy, callsPerRound);
        time(generic, x, dy, callsPerRound);
        time(highPrecision, x, dy, callsPerRound);
        double[] generatedNs = new double[rounds];
        double[] genericNs = new double[rounds];
        double[] highPrecisionNs = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            // odd rounds run in reverse order, so that neither layer always follows the other's garbage
            if (r % 2 == 0) {
                generatedNs[r] = time(generated, x, dy, callsPerRound);
                genericNs[r] = time(generic, x, dy, callsPerRound);
                highPrecisionNs[r] = time(highPrecision, x, dy, callsPerRound);
            } else {
                highPrecisionNs[r] = time(highPrecision, x, dy, callsPerRound);
                genericNs[r] = time(generic, x, dy, callsPerRound);
                generatedNs[r] = time(generated, x, dy, callsPerRound);
            }
        }
        double g = median(generatedNs);
        double c = median(genericNs);
        System.out.printf("%-26s x [%d, %d], W [%d, %d]: generated %s, generic %s, high-precision Linear %s per "
                + "forward+backward; generic/generated %.3f%n", what, rows, in, out, in, format(g), format(c),
                format(median(highPrecisionNs)), c / g);
    }

    private static Linear seeded(Supplier<Linear> make) {
        Init.seed(1);
        return make.get();
    }

    /** Nanoseconds per forward + backward, averaged over calls. */
    private static double time(Linear layer, Tensor x, Tensor dy, int calls) {
        long start = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            layer.forward(x);
            layer.backward(dy);
        }
        return (System.nanoTime() - start) / (double) calls;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    private static String format(double ns) {
        return ns < 1e6 ? String.format("%.1f us", ns / 1e3) : String.format("%.1f ms", ns / 1e6);
    }
}
