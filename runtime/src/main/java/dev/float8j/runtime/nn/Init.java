package dev.float8j.runtime.nn;

import java.util.SplittableRandom;

/**
 * The random source of parameter initialization. One seed fixes every initial weight: layers draw from it
 * in construction order, so the same seed and the same model give the same weights, bit for bit.
 */
public final class Init {
    private static SplittableRandom random = new SplittableRandom(0);

    private Init() {
    }

    /** Restarts the initialization stream from seed. */
    public static synchronized void seed(long seed) {
        random = new SplittableRandom(seed);
    }

    /**
     * Runs make with a throwaway stream, so that what it draws leaves the seeded stream where it was: layers
     * made only to receive existing weights must not shift the initial weights of layers made after them.
     */
    static synchronized <T> T withoutDrawing(java.util.function.Supplier<T> make) {
        SplittableRandom kept = random;
        random = new SplittableRandom(0);
        try {
            return make.get();
        } finally {
            random = kept;
        }
    }

    /** n values uniform in [-bound, bound). */
    public static synchronized float[] uniform(int n, float bound) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
        }
        return out;
    }

    /** n values normal with mean 0 and the given standard deviation. */
    public static synchronized float[] normal(int n, float std) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            // Box-Muller on the stream, so the result depends on the seed alone
            double u1 = 1.0 - random.nextDouble();
            double u2 = random.nextDouble();
            out[i] = (float) (std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
        }
        return out;
    }
}
