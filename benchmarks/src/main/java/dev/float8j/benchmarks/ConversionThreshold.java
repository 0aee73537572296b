package dev.float8j.benchmarks;

import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.cuda.CudaBackend;
import dev.float8j.runtime.cuda.DeviceScope;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Float8Recipes;
import java.util.Arrays;
import java.util.Locale;

/**
 * Measures what sets the default conversion filter's thresholds (Float8Training.sizeFilter): one forward +
 * backward of a linear layer in high precision (F32) and in FP8, side by side, per K = N, at a fixed number of
 * rows M. Rounds alternate the order; the median round is reported, as the ratio FP8 time / F32 time.
 *
 * <p>On CUDA both layers run device-resident, as a user runs them there: parameters moved to the GPU, BF16 x and
 * dY on the device, each step in a {@link DeviceScope} so its memory is reused, timed to a synchronize.
 *
 * <p>args: backend name (cpu, cuda, reference), M, recipe names comma separated, sizes comma separated.
 */
public final class ConversionThreshold {
    private ConversionThreshold() {
    }

    public static void main(String[] args) {
        Backend backend = Backends.named(args.length > 0 ? args[0] : "cpu");
        Backends.use(backend);
        int rows = args.length > 1 ? Integer.parseInt(args[1]) : 1024;
        String[] recipes = (args.length > 2 ? args[2] : "tensorwise,rowwise").split(",");
        int[] sizes = Arrays.stream((args.length > 3 ? args[3] : "64,128,256,512,1024,2048").split(","))
                .mapToInt(Integer::parseInt).toArray();
        System.out.printf(Locale.ROOT, "backend %s, M=%d, %d threads%n", backend.name(), rows,
                Runtime.getRuntime().availableProcessors());
        System.out.println("K=N,recipe,f32_ms,fp8_ms,fp8_over_f32");
        for (int size : sizes) {
            for (String recipe : recipes) {
                compare(size, rows, recipe, Float8Recipes.named(recipe));
            }
        }
    }

    private static void compare(int size, int rows, String recipe, Float8Plan plan) {
        Init.seed(1);
        Linear f32 = new Linear(size, size);
        Linear fp8 = new Float8Linear(size, size, plan);
        Tensor x = Tensor.of(Init.normal(rows * size, 1f), rows, size);
        Tensor dy = Tensor.of(Init.normal(rows * size, 1e-3f), rows, size);
        Backend backend = Backends.current();
        double flopPerRound = 5e9;  // about 50 ms of gemm work at 100 GFLOP/s
        if (backend instanceof CudaBackend cuda) {
            f32.moveTo(cuda);
            fp8.moveTo(cuda);
            x = cuda.toDevice(x.to(DType.BF16));
            dy = cuda.toDevice(dy.to(DType.BF16));
            flopPerRound = 2e12;    // a few ms at the GPU's rate
        }
        int calls = (int) Math.max(backend instanceof CudaBackend ? 5 : 1, Math.min(200, flopPerRound / (6.0 * rows * size * size)));
        for (int warm = 0; warm < 3; warm++) {
            time(f32, x, dy, calls);
            time(fp8, x, dy, calls);
        }
        int rounds = 7;
        double[] f32Ms = new double[rounds];
        double[] fp8Ms = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            if (r % 2 == 0) {
                f32Ms[r] = time(f32, x, dy, calls);
                fp8Ms[r] = time(fp8, x, dy, calls);
            } else {
                fp8Ms[r] = time(fp8, x, dy, calls);
                f32Ms[r] = time(f32, x, dy, calls);
            }
        }
        double a = median(f32Ms);
        double b = median(fp8Ms);
        System.out.printf(Locale.ROOT, "%d,%s,%.3f,%.3f,%.2f%n", size, recipe, a, b, b / a);
    }

    /** Milliseconds per forward + backward, averaged over calls. */
    private static double time(Linear layer, Tensor x, Tensor dy, int calls) {
        if (Backends.current() instanceof CudaBackend cuda) {
            cuda.synchronize();
            long start = System.nanoTime();
            for (int i = 0; i < calls; i++) {
                try (DeviceScope step = cuda.openScope()) {
                    layer.forward(x);
                    layer.backward(dy);
                }
            }
            cuda.synchronize();
            long nanos = System.nanoTime() - start;
            layer.zeroGrad();
            return nanos / 1e6 / calls;
        }
        long start = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            layer.forward(x);
            layer.backward(dy);
        }
        layer.zeroGrad();
        return (System.nanoTime() - start) / 1e6 / calls;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
