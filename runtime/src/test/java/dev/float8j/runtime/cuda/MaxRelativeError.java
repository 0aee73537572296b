package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.float8j.runtime.Tensor;

/** How far a GPU result is from the reference's: the largest difference relative to the reference's largest magnitude. */
final class MaxRelativeError {
    private MaxRelativeError() {
    }

    /** After checking that the shapes agree; both tensors on the host. */
    static double of(Tensor expected, Tensor actual) {
        assertArrayEquals(expected.shape(), actual.shape());
        double max = 0;
        double diff = 0;
        for (int i = 0; i < expected.size(); i++) {
            max = Math.max(max, Math.abs(expected.getFlat(i)));
            diff = Math.max(diff, Math.abs(expected.getFlat(i) - actual.getFlat(i)));
        }
        return diff / max;
    }
}
