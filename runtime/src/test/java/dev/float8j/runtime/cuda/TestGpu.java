package dev.float8j.runtime.cuda;

import org.junit.jupiter.api.Assumptions;

/** The GPU the CUDA tests run on, looked for once; without one (as on CI) each test skips and says why. */
final class TestGpu {
    private static final String[] WHY_NOT = new String[1];
    private static final CudaBackend CUDA = CudaBackend.availableOrNull(WHY_NOT);

    private TestGpu() {
    }

    /** The CUDA backend; the calling test is skipped, with the reason, when there is none. */
    static CudaBackend require() {
        Assumptions.assumeTrue(CUDA != null, () -> "skipped: no CUDA GPU or library here: " + WHY_NOT[0]);
        return CUDA;
    }
}
