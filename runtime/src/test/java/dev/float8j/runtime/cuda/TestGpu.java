package dev.float8j.runtime.cuda;

import org.junit.jupiter.api.Assumptions;

/**
 * The GPU the CUDA tests run on, looked for once. Without a GPU or the CUDA libraries (as on CI) each test skips and
 * says why; where a GPU is present but the backend fails to start (a kernel that does not compile, a binding that
 * does not match), each test fails with that error instead of hiding it as a skip.
 */
final class TestGpu {
    private static final CudaBackend CUDA;
    private static final String WHY_NOT;
    private static final Throwable FAILURE;

    static {
        CudaBackend cuda = null;
        String whyNot = null;
        Throwable failure = null;
        try {
            cuda = CudaBackend.create();
        } catch (CudaUnavailableException e) {
            whyNot = e.getMessage();
        } catch (RuntimeException | LinkageError e) {
            failure = e;
        }
        CUDA = cuda;
        WHY_NOT = whyNot;
        FAILURE = failure;
    }

    private TestGpu() {
    }

    /** The CUDA backend; the calling test is skipped, with the reason, when there is no GPU or CUDA library. */
    static CudaBackend require() {
        if (FAILURE != null) {
            throw new AssertionError("a GPU is here, but the CUDA backend failed to start: " + FAILURE, FAILURE);
        }
        Assumptions.assumeTrue(CUDA != null, () -> "skipped: no CUDA GPU or library here: " + WHY_NOT);
        return CUDA;
    }
}
