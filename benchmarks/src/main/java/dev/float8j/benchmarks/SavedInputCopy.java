package dev.float8j.benchmarks;

import dev.float8j.plan.Float8Plan;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.MemoryScope;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.cuda.CudaBackend;
import dev.float8j.runtime.cuda.DeviceScope;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import java.util.Arrays;

/**
 * What protecting a high-precision save costs: a layer that keeps x in high precision for backward saves a copy of
 * it, so that the caller may reuse its input buffer. Times, side by side in one run on the named backend (default
 * cpu), one training step (forward + backward) of a high-precision {@link Linear} and of a rowwise
 * {@link Float8Linear} (both save a copy of x), and the copy of x alone; the median of the rounds is reported.
 * On CUDA the layers, x and dY are device-resident, x and dY in BF16, each step runs in a {@link DeviceScope} and
 * every timed piece ends with a device synchronization.
 */
public final class SavedInputCopy {
    private SavedInputCopy() {
    }

    /** args: optionally a backend name as {@link Backends#named} takes it. */
    public static void main(String[] args) {
        Backend backend = Backends.named(args.length > 0 ? args[0] : "cpu");
        Backends.use(backend);
        System.out.printf("backend %s%n%-18s %12s %12s %12s %10s %10s%n", backend.name(), "rows x in x out", "copy us",
                "hp step us", "fp8 step us", "copy/hp", "copy/fp8");
        boolean cuda = backend instanceof CudaBackend;
        int[][] sizes = cuda ? new int[][] {{4096, 4096, 4096}, {16384, 8192, 8192}} : new int[][] {{256, 256, 256}, {1024, 1024, 1024}};
        for (int[] size : sizes) {
            measure(backend, size[0], size[1], size[2]);
        }
    }

    private static void measure(Backend backend, int rows, int in, int out) {
        Init.seed(1);
        Linear hp = new Linear(in, out);
        Linear fp8 = new Float8Linear(in, out, Float8Plan.rowwise());
        Tensor x = Tensor.of(Init.normal(rows * in, 1f), rows, in);
        Tensor dy = Tensor.of(Init.normal(rows * out, 1e-3f), rows, out);
        if (backend instanceof CudaBackend) {
            x = backend.toDevice(x.to(DType.BF16));
            dy = backend.toDevice(dy.to(DType.BF16));
            hp.moveTo(backend);
            fp8.moveTo(backend);
        }
        int rounds = 7;
        double[] copy = new double[rounds];
        double[] hpStep = new double[rounds];
        double[] fp8Step = new double[rounds];
        for (int r = -2; r < rounds; r++) {  // two rounds of warm-up
            double c = timeCopy(backend, x);
            double h = timeStep(backend, hp, x, dy);
            double f = timeStep(backend, fp8, x, dy);
            if (r >= 0) {
                copy[r] = c;
                hpStep[r] = h;
                fp8Step[r] = f;
            }
        }
        double c = median(copy);
        double h = median(hpStep);
        double f = median(fp8Step);
        System.out.printf("%-18s %12.1f %12.1f %12.1f %9.2f%% %9.2f%%%n", rows + "x" + in + "x" + out, c / 1e3, h / 1e3,
                f / 1e3, 100 * c / h, 100 * c / f);
    }

    private static double timeCopy(Backend backend, Tensor x) {
        int reps = 20;
        long start = System.nanoTime();
        for (int i = 0; i < reps; i++) {
            try (MemoryScope scope = backend.openScope()) {
                backend.release(backend.copy(x));
                synchronize(backend);
            }
        }
        return (System.nanoTime() - start) / (double) reps;
    }

    private static double timeStep(Backend backend, Linear layer, Tensor x, Tensor dy) {
        int reps = 3;
        long start = System.nanoTime();
        for (int i = 0; i < reps; i++) {
            try (MemoryScope scope = backend.openScope()) {
                layer.forward(x);
                layer.backward(dy);
                synchronize(backend);
            }
        }
        return (System.nanoTime() - start) / (double) reps;
    }

    private static void synchronize(Backend backend) {
        if (backend instanceof CudaBackend cuda) {
            cuda.synchronize();
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
