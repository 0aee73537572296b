package dev.float8j.benchmarks;

/**
 * Another library's matmul, timed by {@link CpuBenchmark} in the same run as float8j's gemms and against the
 * same FMA ceiling. Implementations live outside the default build (see the {@code torch-peer} profile of
 * benchmarks/pom.xml) and are found by class name.
 */
public interface MatmulPeer {
    /** The peer's name, the op column of its rows. */
    String name();

    /** The element types it times, as the granularity column shows them (e.g. F32, BF16). */
    String[] dtypes();

    /** Sets the number of threads the peer's own pool uses. */
    void threads(int threads);

    /**
     * Prepares y = x.W^T with x [m, k] and W [n, k] of Gaussian values in dtype, and returns one run of it. The
     * output of one run is freed before the next.
     */
    Runnable prepare(String dtype, int m, int k, int n);
}
