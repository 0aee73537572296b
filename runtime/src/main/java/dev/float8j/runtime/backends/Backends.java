package dev.float8j.runtime.backends;

import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.cpu.CpuBackend;
import dev.float8j.runtime.cuda.CudaBackend;
import java.util.Objects;
import java.util.logging.Logger;

/**
 * The backend that layers use when none is given explicitly: one setting for the whole program.
 *
 * <p>Until {@link #use} sets one, the first call to {@link #current()} picks it from the system property
 * {@value #PROPERTY} ({@code cuda}, {@code cpu}, {@code reference} or {@code auto}), which defaults to
 * {@code auto}: the fastest backend this machine offers. float8j's own tests run with
 * {@code -Dfloat8j.backend=reference}, so that layers are compared against the scalar oracle.
 */
public final class Backends {
    /** The system property that chooses the default backend. */
    public static final String PROPERTY = "float8j.backend";
    private static volatile Backend current;

    private Backends() {
    }

    /** The backend layers use: the one {@link #use} set, else the one {@value #PROPERTY} names (default: auto). */
    public static Backend current() {
        Backend b = current;
        if (b == null) {
            synchronized (Backends.class) {
                if (current == null) {
                    current = fromProperty(System.getProperty(PROPERTY));
                }
                b = current;
            }
        }
        return b;
    }

    /** The backend a value of {@value #PROPERTY} names; no value means auto. */
    static Backend fromProperty(String value) {
        try {
            return named(value == null || value.isBlank() ? "auto" : value.strip());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("-D" + PROPERTY + "=" + value + ": " + e.getMessage(), e);
        }
    }

    /**
     * The fastest backend this machine offers: CUDA when a GPU and its libraries are found, else the CPU
     * backend (logging one line that says why).
     */
    public static Backend auto() {
        String[] whyNot = new String[1];
        Backend cuda = CudaBackend.availableOrNull(whyNot);
        if (cuda != null) {
            return cuda;
        }
        Backend cpu = cpu();
        Logger.getLogger("dev.float8j").info("float8j: no CUDA backend (" + whyNot[0] + "); using " + cpu.name());
        return cpu;
    }

    /** A backend by name: "cuda" (fails with the reason when CUDA is unavailable), "cpu", "reference" or "auto". */
    public static Backend named(String name) {
        return switch (name) {
            case "cuda" -> CudaBackend.create();
            case "cpu" -> cpu();
            case "reference" -> new ReferenceBackend();
            case "auto" -> auto();
            default -> throw new IllegalArgumentException("unknown backend '" + name
                    + "'; choose cuda, cpu, reference or auto");
        };
    }

    /** One CPU backend for the program, so that its worker threads are made once. */
    private static Backend cpu() {
        requireVectorModule();
        return CpuBackendHolder.INSTANCE;
    }

    /**
     * The CPU backend runs on the Vector API, an incubator module that the JVM only loads when asked to: without
     * it, the first gemm would die with NoClassDefFoundError: jdk/incubator/vector/Vector.
     */
    static void requireVectorModule() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            throw new IllegalStateException("float8j's CPU backend needs the Vector API: start java with "
                    + "--add-modules jdk.incubator.vector (or choose the slow -D" + PROPERTY + "=reference)");
        }
    }

    private static final class CpuBackendHolder {
        static final Backend INSTANCE = new CpuBackend();
    }

    /** Makes backend the default for every layer from now on. */
    public static void use(Backend backend) {
        current = Objects.requireNonNull(backend, "backend");
    }
}
