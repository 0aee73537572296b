package dev.float8j.runtime.backends;

import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.cpu.CpuBackend;
import dev.float8j.runtime.cuda.CudaBackend;
import java.util.Objects;
import java.util.logging.Logger;

/** The backend that layers use when none is given explicitly: one setting for the whole program. */
public final class Backends {
    private static volatile Backend current = new ReferenceBackend();

    private Backends() {
    }

    public static Backend current() {
        return current;
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
        return CpuBackendHolder.INSTANCE;
    }

    private static final class CpuBackendHolder {
        static final Backend INSTANCE = new CpuBackend();
    }

    /** Makes backend the default for every layer from now on. */
    public static void use(Backend backend) {
        current = Objects.requireNonNull(backend, "backend");
    }
}
