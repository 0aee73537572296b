package dev.float8j.runtime.cuda;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import java.util.Random;

/** The CUDA tests' random inputs: normal values of a given scale, the same for the same seed on every run. */
final class GaussianTensors {
    private GaussianTensors() {
    }

    /** A rows x cols tensor of scale * N(0, 1) values from Random(seed), rounded to F32, then to dtype. */
    static Tensor gaussian(long seed, double scale, DType dtype, int rows, int cols) {
        Random rnd = new Random(seed);
        float[] data = new float[rows * cols];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) (scale * rnd.nextGaussian());
        }
        Tensor t = Tensor.of(data, rows, cols);
        return dtype == DType.F32 ? t : t.to(DType.BF16);
    }
}
