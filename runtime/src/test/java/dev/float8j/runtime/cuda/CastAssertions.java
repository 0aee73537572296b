package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.float8j.runtime.Float8Tensor;

/** Checks on FP8 casts made on the GPU, compared after download. */
final class CastAssertions {
    private CastAssertions() {
    }

    /** The same codes and the same scales, bit for bit. */
    static void assertSameCast(CudaBackend cuda, Float8Tensor expected, Float8Tensor actual, String what) {
        Float8Tensor e = cuda.toHost(expected);
        Float8Tensor a = cuda.toHost(actual);
        assertArrayEquals(e.codes(), a.codes(), what + ": codes");
        assertArrayEquals(e.scales(), a.scales(), what + ": scales");
    }
}
